import { randomBytes } from "node:crypto";
import { closeSync, lstatSync, openSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

const BLOCK = 64 * 1024;

/**
 * Rewrites 64 KiB of `path` in place (same size, new content) every 20 ms until stopped, as a
 * job that updates its output file while Strata copies it.
 */
export function keepRewriting(path: string): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    const size = lstatSync(path).size;
    const fd = openSync(path, "r+");
    try {
      while (running) {
        writeSync(fd, randomBytes(BLOCK), 0, BLOCK, Math.floor(Math.random() * (size - BLOCK)));
        await sleep(20);
      }
    } finally {
      closeSync(fd);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}
