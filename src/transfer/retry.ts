import { setTimeout as sleep } from "node:timers/promises";
import { BackendError } from "../backends/backend.js";

export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 4, baseDelayMs: 200, maxDelayMs: 20_000 };

/** Transient backend errors and network resets are retried; everything else fails at once. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof BackendError) return err.retryable;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "ECONNRESET" || code === "ETIMEDOUT" || code === "EPIPE" || code === "ECONNREFUSED";
}

/**
 * Runs `attempt` until it succeeds, the error is permanent, or retries run out. Delays grow
 * exponentially with full jitter, so many workers hitting one throttled endpoint spread out
 * instead of retrying in lockstep.
 *
 * This is the outer of two layers. The cloud SDKs retry each request first (S3: up to 4
 * attempts, jittered backoff, longer for SlowDown), which is cheap because bodies are buffers
 * that can be sent again, and a retried part does not restart its file. Their retry quota
 * stops those retries under a sustained storm, so the layers do not multiply without bound:
 * what is left failing comes here, and a multipart upload retried here resumes from its
 * journaled parts.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  attempt: (attemptNumber: number) => Promise<T>,
): Promise<{ value: T; attempts: number }> {
  for (let n = 1; ; n++) {
    try {
      return { value: await attempt(n), attempts: n };
    } catch (err) {
      if (n > policy.retries || !isRetryable(err)) throw Object.assign(err as Error, { attempts: n });
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (n - 1));
      await sleep(Math.random() * ceiling);
    }
  }
}

/** How many attempts a failed `withRetry` made. */
export function attemptsOf(err: unknown): number {
  return (err as { attempts?: number } | undefined)?.attempts ?? 1;
}
