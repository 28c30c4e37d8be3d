import { setTimeout as delay } from 'node:timers/promises';

/** Retry policy of the DMF clients. Every field has a default (see {@link DEFAULT_RETRY_OPTIONS}). */
export interface RetryOptions {
  /** Maximum HTTP attempts per call, the first included. Default 5. */
  maxAttempts: number;
  /** No retry starts once this much time (ms) would have passed since the first attempt. Default 120 000. */
  maxTotalMs: number;
  /** First backoff delay in ms; doubles on each retry. Default 1 000. */
  baseDelayMs: number;
  /** Upper bound of one exponential backoff delay in ms (Retry-After is not capped by it). Default 30 000. */
  maxDelayMs: number;
  /**
   * Longest `Retry-After` waited for inside the call. A longer one is thrown at once (the error
   * carries `retryAfterMs`), so a caller that can wait without running (a durable timer) does so.
   * Default `Infinity`: only `maxTotalMs` bounds it.
   */
  maxRetryAfterMs: number;
  /** Waits `ms` milliseconds; rejects when `signal` aborts. Injectable for tests. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Random source in [0, 1) for jitter. Injectable for tests. Default `Math.random`. */
  random: () => number;
  /** Clock in epoch ms, used for the total-time bound and HTTP-date Retry-After. Default `Date.now`. */
  now: () => number;
}

/** Defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY_OPTIONS: Readonly<RetryOptions> = Object.freeze({
  maxAttempts: 5,
  maxTotalMs: 120_000,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
  maxRetryAfterMs: Number.POSITIVE_INFINITY,
  sleep: (ms: number, signal?: AbortSignal) => delay(ms, undefined, signal ? { signal } : undefined),
  random: Math.random,
  now: Date.now,
});

/** Fills unset fields of a partial policy with {@link DEFAULT_RETRY_OPTIONS}. */
export function resolveRetryOptions(...partials: (Partial<RetryOptions> | undefined)[]): RetryOptions {
  const out: RetryOptions = { ...DEFAULT_RETRY_OPTIONS };
  for (const partial of partials) {
    if (!partial) continue;
    for (const [key, value] of Object.entries(partial)) {
      if (value !== undefined) (out as unknown as Record<string, unknown>)[key] = value;
    }
  }
  return out;
}

/**
 * Exponential backoff with "equal jitter": half of `min(maxDelayMs, baseDelayMs * 2^(retry-1))` is fixed,
 * the other half random, so retries spread out but never collapse to zero.
 * @param retry 1 for the first retry, 2 for the second, …
 */
export function backoffDelay(
  retry: number,
  options: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'random'>,
): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * options.random());
}

/**
 * Parses a `Retry-After` header: delta-seconds (`"7"`, `"1.5"`) or an HTTP date.
 * @returns the delay in ms (never negative), or undefined when absent or unparsable.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Attempt bookkeeping shared by the nested loops of one logical call. */
export class RetryBudget {
  /** Epoch ms of the first attempt. */
  readonly startedAt: number;
  /** HTTP attempts made so far. */
  attempts = 0;

  /** @param options the resolved policy (its clock starts the total-time bound now). */
  constructor(readonly options: RetryOptions) {
    this.startedAt = options.now();
  }

  /**
   * True when one more attempt after waiting `delayMs` stays within both bounds, and a `Retry-After`
   * the service asked for (`retryAfterMs`) is one this call may wait for (`maxRetryAfterMs`).
   */
  allows(delayMs: number, retryAfterMs?: number): boolean {
    return (
      this.attempts < this.options.maxAttempts &&
      (retryAfterMs === undefined || retryAfterMs <= this.options.maxRetryAfterMs) &&
      this.options.now() - this.startedAt + delayMs <= this.options.maxTotalMs
    );
  }

  /** The wait before the next retry: Retry-After when the service gave one, else jittered backoff. */
  nextDelay(retryAfterMs: number | undefined): number {
    return retryAfterMs ?? backoffDelay(this.attempts, this.options);
  }
}
