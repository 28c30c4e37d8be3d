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

/** An orchestration another one runs as a sub-orchestration: its durable name, input and result types. */
export interface SubOrchestration<I, R> {
  /** The durable name (in history: it never changes). */
  readonly name: string;
  /** Phantom: the input and result types (never set). */
  readonly types?: { input: I; result: R };
}

/** Declares a sub-orchestration by its durable name (the point is the types). */
export function subOrchestration<I, R>(name: string): SubOrchestration<I, R> {
  return { name };
}

/**
 * Runs `orchestration` as a sub-orchestration under `instanceId` (a child job with an id of its
 * own) and returns its output, typed by the descriptor. Throws when the child failed (crashed or
 * was terminated). Use with `yield*`.
 */
export function* callOrchestration<I, R>(
  context: OrchestrationContext,
  orchestration: SubOrchestration<I, R>,
  input: I,
  instanceId: string,
): Generator<Task, R, unknown> {
  // the host hands back what the child returned (as JSON): typed by the descriptor
  return (yield context.df.callSubOrchestrator(orchestration.name, input, instanceId)) as R;
}

/** An activity call scheduled by {@link scheduleActivity}, typed by its result. */
export interface ScheduledActivity<R> {
  readonly task: Task;
  /** Type only (never set): the handler's result. */
  readonly result?: R;
}

/** What a scheduled call came to: its result, or the error of its last attempt. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Schedules `activity` with `input`, retried as `retry` says, without waiting: several calls run
 * at once when their tasks are awaited together ({@link settleAll}).
 */
export function scheduleActivity<S extends z.ZodType, R>(
  context: OrchestrationContext,
  activity: ActivityDescriptor<S, R>,
  input: z.input<S>,
  retry: Retry,
): ScheduledActivity<R> {
  return { task: context.df.callActivityWithRetry(activity.name, retryOptions(retry), input) };
}

/**
 * Waits for every scheduled call (they run at once) and tells each one's outcome: unlike
 * `Task.all`, a failure neither hides the other results nor stops the wait for them. Use with
 * `yield*`.
 */
export function* settleAll<const C extends readonly ScheduledActivity<unknown>[]>(
  context: OrchestrationContext,
  calls: C,
): Generator<
  Task,
  { [K in keyof C]: C[K] extends ScheduledActivity<infer R> ? Settled<R> : never },
  unknown
> {
  try {
    yield context.df.Task.all(calls.map((c) => c.task));
  } catch {
    // Task.all fails at the first failure; each task is read (or awaited) below
  }
  const out: Settled<unknown>[] = [];
  for (const call of calls) {
    try {
      out.push({ ok: true, value: yield call.task });
    } catch (error) {
      out.push({ ok: false, error });
    }
  }
  return out as { [K in keyof C]: C[K] extends ScheduledActivity<infer R> ? Settled<R> : never };
}
