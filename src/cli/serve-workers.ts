import cluster, { type Worker } from "node:cluster";

/**
 * `strata serve --workers N`: N server processes sharing one listening port (node:cluster hands
 * each new connection to one of them), so reads of a large SQLite catalog, which block the
 * process that runs them, use every core. The processes share nothing but the catalog: a run
 * one started is cancelled from another through the catalog's stop requests, and the alerts
 * are evaluated under the catalog's @alerts lease.
 */

const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/** Whether this process is one of the server processes a supervisor started. */
export function isServeWorker(): boolean {
  return cluster.isWorker;
}

/**
 * Lets a server process end once it has stopped serving: its channel to the supervisor would
 * otherwise keep it alive.
 */
export function leaveSupervisor(): void {
  cluster.worker?.disconnect();
}

/**
 * Starts `count` server processes (this program, run again with the same arguments) and keeps
 * them: one that crashes is replaced; SIGTERM or SIGINT stops them all, each finishing what it
 * serves. Resolves with the exit code: 0 after a stop, else the code of a worker that ended
 * before it listened (the others are stopped then).
 */
export function superviseWorkers(count: number, warn: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const workers = new Set<Worker>();
    // A process that ends before it ever listened could not start, and a new one would not either.
    const listening = new WeakSet<Worker>();
    let stopping = false;
    let exitCode = 0;
    const fork = () => workers.add(cluster.fork());
    const stopAll = (code: number) => {
      if (!stopping) exitCode = code;
      stopping = true;
      for (const worker of workers) worker.process.kill("SIGTERM");
      if (workers.size === 0) resolve(exitCode);
    };
    cluster.on("listening", (worker) => listening.add(worker));
    cluster.on("exit", (worker, code, signal) => {
      workers.delete(worker);
      const how = signal ? `signal ${signal}` : `exit ${code}`;
      if (stopping) {
        if (workers.size === 0) resolve(exitCode);
      } else if (!listening.has(worker)) {
        warn(`server process ${worker.process.pid} ended (${how}) as it started: stopping the others`);
        stopAll(code || 1);
      } else {
        warn(`server process ${worker.process.pid} ended (${how}): starting another`);
        fork();
      }
    });
    for (const signal of STOP_SIGNALS) process.once(signal, () => stopAll(0));
    for (let i = 0; i < count; i++) fork();
  });
}
