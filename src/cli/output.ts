import { formatBytes, formatDuration, formatRate, perSecond } from "../config/units.js";

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

  /**
   * A live status line for long work; `total` when known up front (sync's plan), else counts
   * alone (a scan, a verify, a restore reading the catalog as it goes).
   */
  progress(total?: { files: number; bytes: number }, noun = "files"): Progress {
    const live = Boolean(this.stderr.isTTY) && !this.options.json && !this.options.quiet;
    return new Progress(live ? this.stderr : undefined, (line) => this.detail(line), total, noun);
  }
}

/** A single self-rewriting status line; a no-op when not on a terminal. */
export class Progress {
  private files = 0;
  private bytes = 0;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream | undefined,
    private readonly print: (line: string) => void,
    private readonly total: { files: number; bytes: number } | undefined,
    private readonly noun: string,
  ) {
    if (!stream) return;
    // The first frame at once: even a short run shows it started.
    this.render();
    this.timer = setInterval(() => this.render(), 250).unref();
  }

  addBytes(count: number): void {
    this.bytes += count;
  }

  fileDone(count = 1): void {
    this.files += count;
  }

  /** A --verbose line, printed above the status line rather than through it. */
  detail(line: string): void {
    this.stream?.write("\r\x1b[K");
    this.print(line);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.stream?.write("\r\x1b[K");
  }

  private render(): void {
    const elapsed = Date.now() - this.started;
    const files = this.total ? `${count(this.files)}/${count(this.total.files)}` : count(this.files);
    const bytes = this.total ? `${formatBytes(this.bytes)}/${formatBytes(this.total.bytes)}` : formatBytes(this.bytes);
    const line = `${files} ${this.noun}  ${bytes}  ${formatRate(perSecond(this.bytes, elapsed))}  ${formatDuration(elapsed)}`;
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

/** "in 2.3 s, 52.1 MiB/s, 434 files/s"; the files rate only when it means something. */
export function rates(files: number, bytes: number, elapsedMs: number): string {
  const parts = [`in ${formatDuration(elapsedMs)}`, formatRate(perSecond(bytes, elapsedMs))];
  const perFile = filesRate(files, elapsedMs);
  if (perFile) parts.push(perFile);
  return parts.join(", ");
}

/**
 * "434 files/s", "45 files/min", "3 files/h": the first unit in which the rate is at least one.
 * One file, or under a second, has no rate worth printing.
 */
function filesRate(files: number, elapsedMs: number): string | undefined {
  if (files < 2 || elapsedMs < 1000) return undefined;
  const perSecondRate = perSecond(files, elapsedMs);
  for (const [unit, seconds] of [
    ["s", 1],
    ["min", 60],
  ] as const) {
    const rate = perSecondRate * seconds;
    if (rate >= 1) return `${count(Math.round(rate))} files/${unit}`;
  }
  return `${count(Math.round(perSecondRate * 3600))} files/h`;
}
