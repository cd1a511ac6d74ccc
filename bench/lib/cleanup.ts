import { killRunning } from "./measure.js";

/**
 * What a bench must undo (its temp dir, RGW, clients), undone in reverse order, once: at the end,
 * on an error, or on Ctrl-C (then the command being measured is killed first).
 */
export class Cleanups {
  private readonly undos: Array<() => void> = [];

  constructor(private readonly log: (line: string) => void) {
    for (const [signal, code] of [
      ["SIGINT", 130],
      ["SIGTERM", 143],
    ] as const) {
      process.on(signal, () => {
        log(`\n${signal}: stopping the running command and RGW, removing temp files`);
        killRunning();
        this.run();
        process.exit(code);
      });
    }
  }

  push(undo: () => void): void {
    this.undos.push(undo);
  }

  run(): void {
    for (const undo of this.undos.splice(0).reverse()) {
      try {
        undo();
      } catch (err) {
        this.log(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}
