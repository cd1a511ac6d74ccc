/**
 * One global cap on bytes held in memory by transfers in flight, whatever the mix: a million
 * tiny files or a few huge ones. Each transfer asks for what its destination will buffer and
 * waits, first come first served, until that much is free. A request larger than the whole
 * budget is granted alone (when nothing else holds any), so it cannot wait forever.
 */
export class ByteBudget {
  private inUse = 0;
  private highWater = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly capacity: number) {}

  async acquire(bytes: number): Promise<number> {
    const granted = Math.min(bytes, this.capacity);
    if (this.waiting.length === 0 && this.fits(granted)) {
      this.take(granted);
      return granted;
    }
    await new Promise<void>((grant) => this.waiting.push({ bytes: granted, grant }));
    return granted;
  }

  release(bytes: number): void {
    this.inUse -= bytes;
    while (this.waiting.length > 0 && this.fits((this.waiting[0] as { bytes: number }).bytes)) {
      const next = this.waiting.shift() as { bytes: number; grant: () => void };
      this.take(next.bytes);
      next.grant();
    }
  }

  /** The most ever held at once: what the cap is measured against. */
  get peak(): number {
    return this.highWater;
  }

  private fits(bytes: number): boolean {
    return this.inUse + bytes <= this.capacity;
  }

  private take(bytes: number): void {
    this.inUse += bytes;
    this.highWater = Math.max(this.highWater, this.inUse);
  }
}
