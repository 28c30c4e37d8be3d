/** Small helpers every layer uses: one home each (search here before writing another). */
import type { z } from 'zod';

/** True for a plain object (not null, not an array): what JSON objects parse to. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The first line of an error's message (stack traces and SDK detail stay in the logs). */
export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'unknown error';
}

/** An ETag without its quotes (`"0x8DC…"` → `0x8DC…`): the form instance ids are derived from. */
export function unquoteEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/"/g, '');
}

/** A date as ISO text (durable statuses give Date objects or strings). */
export function isoTime(value: Date | string | undefined): string | undefined {
  return value === undefined ? undefined : value instanceof Date ? value.toISOString() : String(value);
}

/** The value when it is a string. */
export function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Readable list of zod issues: `path: message; …`. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}

/**
 * Maps `items` through `fn`, at most `limit` at a time; results keep the order of `items`. Rejects
 * with the first failure (calls already started run on).
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * A limiter: `run(fn)` starts `fn` once fewer than `limit` runs are in flight (first come, first
 * started) and settles as it does.
 */
export function createLimiter(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <R>(fn: () => Promise<R>): Promise<R> => {
    // a finishing run hands its slot straight to the first waiter, so no newcomer slips in between
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else running++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  };
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
