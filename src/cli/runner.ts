import { CatalogFullError, catalogFullCode } from "../catalog/db.js";
import { UsageError } from "../config/errors.js";
import { Context, type GlobalOptions } from "./context.js";

/*
 * What every command needs of the program around it: the exit codes and the runner that opens
 * the context. Kept apart from main.ts, which imports every command, so no command imports main.
 */

/**
 * Exit codes: 0 done, 1 some items failed (listed), 2 bad usage or config (nothing changed), 75
 * not done yet, try again later (EX_TEMPFAIL of sysexits.h: `restore --stage-in` while thawing).
 */
export const EXIT = { ok: 0, itemsFailed: 1, usage: 2, tempFail: 75 } as const;

/** Runs a command body inside an open context and hands its exit code back to `main`. */
export type Runner = <A extends unknown[]>(
  body: (ctx: Context, ...args: A) => Promise<number>,
) => (...args: A) => Promise<void>;

/**
 * The Runner of one program: opens a context with the global options as parsed, passes the
 * body's exit code to `setExitCode`, and closes the context whatever happens (as refused when
 * the body refused bad usage, so nothing is recorded as done).
 */
export function commandRunner(globalOptions: () => GlobalOptions, setExitCode: (code: number) => void): Runner {
  return (body) =>
    async (...args) => {
      const ctx = await Context.open(globalOptions());
      try {
        setExitCode(await body(ctx, ...args));
      } catch (err) {
        await ctx.close(err instanceof UsageError ? "refused" : "done");
        throw catalogFullCode(err) ? new CatalogFullError(ctx.catalog.displayUrl, err) : err;
      }
      await ctx.close();
    };
}
