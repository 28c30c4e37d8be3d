/**
 * The one way an orchestration calls an activity: through its descriptor, with the input typed by
 * the activity's schema and the result by its handler, and a retry policy.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { ActivityDescriptor } from '../../shared/app/activity.js';
import type { z } from 'zod';

/** Attempts of an activity, the first wait between two, doubling up to a minute. */
export interface Retry {
  attempts: number;
  firstMs: number;
}

/** Durable retry options for a {@link Retry}: exponential backoff, capped at one minute. */
export function retryOptions(retry: Retry): df.RetryOptions {
  const options = new df.RetryOptions(retry.firstMs, retry.attempts);
  options.backoffCoefficient = 2;
  options.maxRetryIntervalInMilliseconds = 60_000;
  return options;
}

/**
 * Calls `activity` with `input`, retried as `retry` says (durable timers between attempts). Throws
 * when the last attempt failed. Use with `yield*`.
 */
export function* callActivity<S extends z.ZodType, R>(
  context: OrchestrationContext,
  activity: ActivityDescriptor<S, R>,
  input: z.input<S>,
  retry: Retry,
): Generator<Task, R, unknown> {
  // the host hands back what the handler returned (as JSON): typed by the descriptor
  return (yield context.df.callActivityWithRetry(activity.name, retryOptions(retry), input)) as R;
}
