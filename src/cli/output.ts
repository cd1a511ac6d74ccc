import { formatBytes, formatDuration, perSecond } from "../config/units.js";

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
}

/**
 * Where a command speaks: human lines on stdout (or one JSON document with --json), problems
 * on stderr, and a progress line on stderr only when stderr is a terminal.
 */
export class Output {
  constructor(
    readonly options: OutputOptions,
    private readonly stdout: NodeJS.WriteStream = process.stdout,
    private readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {}

  /** A line for people; silent under --json and --quiet. */
  info(line: string): void {
    if (!this.options.json && !this.options.quiet) this.stdout.write(`${line}\n`);
  }

  /** Detail shown with --verbose only. */
  detail(line: string): void {
    if (this.options.verbose && !this.options.json) this.stdout.write(`${line}\n`);
  }

  /** Data a command exists to print (ls, show): shown even under --quiet. */
  data(line: string): void {
    if (!this.options.json) this.stdout.write(`${line}\n`);
  }

  warn(line: string): void {
    this.stderr.write(`strata: ${line}\n`);
  }

  json(value: unknown): void {
    if (this.options.json) this.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  progress(total: { files: number; bytes: number }): Progress {
    const live = Boolean(this.stderr.isTTY) && !this.options.json && !this.options.quiet;
    return new Progress(total, live ? this.stderr : undefined);
  }
}

/** A single self-rewriting status line; a no-op when not on a terminal. */
export class Progress {
  private files = 0;
  private bytes = 0;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly total: { files: number; bytes: number },
    private readonly stream: NodeJS.WriteStream | undefined,
  ) {
    if (stream) this.timer = setInterval(() => this.render(), 250).unref();
  }

  addBytes(count: number): void {
    this.bytes += count;
  }

  fileDone(): void {
    this.files += 1;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.stream?.write("\r\x1b[K");
  }

  private render(): void {
    const elapsed = Date.now() - this.started;
    const line =
      `${this.files.toLocaleString("en")}/${this.total.files.toLocaleString("en")} files  ` +
      `${formatBytes(this.bytes)}/${formatBytes(this.total.bytes)}  ` +
      `${formatBytes(perSecond(this.bytes, elapsed))}/s  ${formatDuration(elapsed)}`;
    this.stream?.write(`\r\x1b[K${line}`);
  }
}

export function count(n: number): string {
  return n.toLocaleString("en");
}

/** "1,234 files (12.3 MiB)" */
export function filesAndBytes(files: number, bytes: number): string {
  return `${count(files)} ${files === 1 ? "file" : "files"} (${formatBytes(bytes)})`;
}

/** "in 2.3 s, 52.1 MiB/s, 434 files/s" */
export function rates(files: number, bytes: number, elapsedMs: number): string {
  return (
    `in ${formatDuration(elapsedMs)}, ${formatBytes(perSecond(bytes, elapsedMs))}/s, ` +
    `${count(Math.round(perSecond(files, elapsedMs)))} files/s`
  );
}
