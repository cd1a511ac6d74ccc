/**
 * Buffers for bodies held whole in memory (a small file read whole by QuickFiles, a body a writer
 * buffers for one request), lent out and given back once every consumer is done with the bytes,
 * so the next body fills the same memory. Allocated per file instead, a
 * body is let go of only at a full garbage collection: its buffer outlives a request's round
 * trip, so V8 promotes it, and frees it when the memory held outside its heap has grown by
 * about 64 MB. A 50,000-file upload held that much in dead bodies at its peak, and the
 * allocator kept the fragments.
 *
 * Giving back is optional: a buffer never given back is garbage like any other. Giving one back
 * too early would let another read overwrite bytes still being sent, so only the code that knows
 * every consumer is done gives back (the copy, after its target's write has settled), and a
 * buffer not lent, or given back already, is ignored.
 */
export class BodyBuffers {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private readonly lent = new WeakSet<ArrayBuffer>();
  private freeBytes = 0;

  /** `maxFreeBytes`: the most this pool keeps unused between copies; the rest is let go. */
  constructor(private readonly maxFreeBytes: number) {}

  /** A buffer of `size` bytes, its content whatever it held before (as Buffer.allocUnsafe). */
  take(size: number): Buffer {
    const capacity = capacityFor(size);
    const reused = this.free.get(capacity)?.pop();
    if (reused) this.freeBytes -= capacity;
    const memory = reused ?? Buffer.allocUnsafeSlow(capacity).buffer;
    this.lent.add(memory);
    return Buffer.from(memory, 0, size);
  }

  /** Gives back a buffer `take` lent (any view of it); anything else is left alone. */
  giveBack(bytes: Uint8Array): void {
    const memory = bytes.buffer as ArrayBuffer;
    // A buffer transferred to another thread since is detached (no bytes left): not kept.
    if (!this.lent.delete(memory) || memory.byteLength === 0) return;
    if (this.freeBytes + memory.byteLength > this.maxFreeBytes) return;
    const shelf = this.free.get(memory.byteLength) ?? [];
    shelf.push(memory);
    this.free.set(memory.byteLength, shelf);
    this.freeBytes += memory.byteLength;
  }

  /** Bytes kept unused, for tests. */
  get kept(): number {
    return this.freeBytes;
  }
}

/** Smallest capacity handed out: below it Node's own shared pool serves small buffers well. */
const MIN_CAPACITY = 4096;

/** Capacities are powers of two, so a buffer given back fits every size up to its own. */
function capacityFor(size: number): number {
  return Math.max(MIN_CAPACITY, 2 ** Math.ceil(Math.log2(Math.max(size, 1))));
}

/**
 * The process's pool for small bodies: enough unused buffers kept for the files in flight of a
 * sync from a tree (8 of up to 1 MiB, each in a 2 MiB buffer), the rest let go.
 */
export const bodyBuffers = new BodyBuffers(16 * 1024 ** 2);
