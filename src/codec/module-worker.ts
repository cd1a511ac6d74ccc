import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";

/**
 * A worker thread running the module `name` that lies beside `base` (the caller's
 * import.meta.url), given `workerData`: the compiled `.js` when there is one (dist/), else the
 * TypeScript source (the test runner). Node 20 does not apply --import hooks to a worker's entry
 * module, so from sources the worker registers tsx itself before importing the module.
 */
export function startModuleWorker(base: string, name: string, workerData?: unknown): Worker {
  const compiled = new URL(`./${name}.js`, base);
  if (existsSync(compiled)) return new Worker(compiled, { workerData });
  const source = new URL(`./${name}.ts`, base).href;
  const bootstrap = `import("tsx/esm/api").then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); })`;
  return new Worker(bootstrap, { eval: true, workerData });
}
