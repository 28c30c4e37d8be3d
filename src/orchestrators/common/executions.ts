/**
 * What imports, exports and recurring imports do alike with an F&O execution inside an
 * orchestration: wait out F&O's throttling, confirm a start that failed, poll the status until it is
 * final, read the execution's page and counts, collect the error details. Sub-generators (`yield*`),
 * deterministic.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import type { z } from 'zod';
import {
  EXECUTION_ACTIVITIES,
  type CollectErrorsInput,
  type CollectErrorsResult,
  type StatusResult,
  type Throttled,
} from '../../activities/common/executions.js';
import type { ActivityDescriptor } from '../../shared/app/activity.js';
import type { PollingConfig } from '../../shared/config/index.js';
import { FINAL_EXECUTION_STATUSES } from '../../shared/dmf/index.js';
import {
  appendPoll,
  type ExecutionSummary,
  type JobError,
  type PollLogEntry,
} from '../../shared/jobs/index.js';
import { backoffDelayMs, type PollingSettings } from '../../shared/polling/schedule.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity, type Retry } from './call.js';
import { pollWithHistory } from './polling.js';

/** The wait after a 429 that named no Retry-After. */
export const THROTTLED_WAIT_MS = 60_000;

/** When a throttled call may be made again: `Retry-After` from now (or {@link THROTTLED_WAIT_MS}). */
export function throttledUntil(context: OrchestrationContext, throttled: Throttled): Date {
  return new Date(context.df.currentUtcDateTime.getTime() + (throttled.retryAfterMs ?? THROTTLED_WAIT_MS));
}

/** An activity that kept failing (after its retries): its last error's message. */
export interface ActivityFailure {
  kind: 'threw';
  message: string;
}

/**
 * Calls `activity` until it answers anything but {@link Throttled}, waiting each Retry-After on a
 * durable timer (no compute while waiting), up to `deadline`. `onThrottled` hears when the next
 * call is due (and `undefined` once F&O answered). Returns the last answer — still throttled when the
 * next call would be due after the deadline — or the activity's failure (it never throws).
 */
export function* untilNotThrottled<S extends z.ZodType, R extends { kind?: string }>(
  context: OrchestrationContext,
  activity: ActivityDescriptor<S, R>,
  input: z.input<S>,
  retry: Retry,
  options: { deadline: Date; onThrottled?(until: Date | undefined): void },
): Generator<Task, R | ActivityFailure, unknown> {
  for (;;) {
    let answer: R;
    try {
      answer = yield* callActivity(context, activity, input, retry);
    } catch (error) {
      return { kind: 'threw', message: errorMessage(error) };
    }
    if (answer.kind !== 'throttled') {
      options.onThrottled?.(undefined);
      return answer;
    }
    const until = throttledUntil(context, answer as unknown as Throttled);
    if (until.getTime() >= options.deadline.getTime()) return answer;
    options.onThrottled?.(until);
    yield context.df.createTimer(until);
  }
}

/** Retry of one status question. */
const STATUS_RETRY: Retry = { attempts: 3, firstMs: 5_000 };
/** Retry of one error collection. */
const COLLECT_RETRY: Retry = { attempts: 4, firstMs: 5_000 };

/** One GetExecutionSummaryStatus; an activity that kept failing is `unavailable`. Never throws. */
function* askStatus(
  context: OrchestrationContext,
  execution: { environment: string; executionId: string },
): Generator<Task, StatusResult, unknown> {
  try {
    return yield* callActivity(
      context,
      EXECUTION_ACTIVITIES.getStatus,
      { environment: execution.environment, executionId: execution.executionId },
      STATUS_RETRY,
    );
  } catch (error) {
    // the activity answers every transient failure: a throw is a refusal (e.g. 403) that persisted
    return { kind: 'unavailable', message: errorMessage(error), permanent: true };
  }
}

/** What {@link pollExecution} reports after each poll. */
export interface PollProgress {
  polls: number;
  foStatus?: string;
  nextPollAt?: string;
  /** The last `POLL_LOG_LIMIT` polls, oldest first (time from `currentUtcDateTime`). */
  pollLog: PollLogEntry[];
  /** Set while F&O throttles the polls (429): when the next poll is due; undefined otherwise. */
  throttledUntil?: string;
}

/** Outcome of {@link pollExecution}. */
export type PollOutcome =
  | { kind: 'final'; status: string; polls: number }
  /**
   * The deadline passed first. `lastStatus` undefined: F&O never reported the execution (not found,
   * throttled or unavailable every time) — it may still run it, the outcome is unknown.
   */
  | { kind: 'timedOut'; polls: number; lastStatus: string | undefined };

/**
 * Polls GetExecutionSummaryStatus until a final status or the deadline. After an accepted start,
 * "not found" is never taken for "not started": F&O may report an execution late (issue 12), so the
 * poll keeps asking (with the backoff) until F&O reports it or the deadline passes. A 429's
 * Retry-After is waited out on the durable timers. Deterministic (durable timers only).
 */
export function* pollExecution(
  context: OrchestrationContext,
  options: {
    environment: string;
    executionId: string;
    startedAt: Date;
    polling: PollingConfig;
    /**
     * Entity key (`historyKey(environment, project)`) of the data project's earlier durations: read to
     * plan the polls, and given this execution's estimated duration when it succeeds.
     */
    historyKey?: string;
    /** Entity key (`environmentHistoryKey`) of the environment's durations: see `pollWithHistory`. */
    environmentHistoryKey?: string;
    /** Size of the execution's data (bytes), when known: see `pollWithHistory`. */
    size?: number;
    onProgress?: (progress: PollProgress) => void;
  },
): Generator<Task, PollOutcome, unknown> {
  let pollLog: PollLogEntry[] = [];
  let lastStatus: string | undefined;
  let throttled = false;
  const known = (): { foStatus?: string } => (lastStatus ? { foStatus: lastStatus } : {});
  const polled = yield* pollWithHistory<StatusResult>(context, {
    since: options.startedAt,
    deadlineMs: options.polling.deadlineHours * 3_600_000,
    settings: options.polling,
    ...(options.historyKey !== undefined ? { historyKey: options.historyKey } : {}),
    ...(options.environmentHistoryKey !== undefined
      ? { environmentHistoryKey: options.environmentHistoryKey }
      : {}),
    ...(options.size !== undefined ? { size: options.size } : {}),
    poll: () => askStatus(context, { environment: options.environment, executionId: options.executionId }),
    waitAtLeastMs: (answer) =>
      answer.kind === 'throttled' ? (answer.retryAfterMs ?? THROTTLED_WAIT_MS) : undefined,
    onWait: (at, { polls }) =>
      options.onProgress?.({
        polls,
        ...known(),
        nextPollAt: at.toISOString(),
        pollLog,
        throttledUntil: throttled ? at.toISOString() : undefined,
      }),
    onAnswer: (answer, { polls }) => {
      pollLog = appendPoll(pollLog, {
        at: context.df.currentUtcDateTime.toISOString(),
        ...(answer.kind === 'status' ? { foStatus: answer.status } : { answer: answer.kind }),
      });
      if (answer.kind === 'status') lastStatus = answer.status;
      throttled = answer.kind === 'throttled';
      options.onProgress?.({ polls, ...known(), pollLog, throttledUntil: undefined });
    },
    judge: (answer) => {
      if (answer.kind === 'status') return FINAL_EXECUTION_STATUSES.has(answer.status) ? 'done' : 'pending';
      return 'noAnswer';
    },
    learns: (answer) =>
      answer.kind === 'status' && (answer.status === 'Succeeded' || answer.status === 'PartiallySucceeded'),
  });
  if (polled.kind === 'timedOut' || polled.answer.kind !== 'status')
    return { kind: 'timedOut', polls: polled.polls, lastStatus };
  return { kind: 'final', status: polled.answer.status, polls: polled.polls };
}

/** What F&O says about an execution whose start call failed (see {@link confirmStart}). */
export type StartCheck =
  | { kind: 'registered' }
  /** F&O kept answering "not found" for the grace period: the start never reached it. */
  | { kind: 'notRegistered' }
  /**
   * F&O could not be asked: `permanent` when it refuses the question itself (e.g. 403), else it
   * stayed unavailable (or throttled) until the deadline. The execution may or may not exist.
   */
  | { kind: 'unanswered'; message: string; permanent: boolean };

/**
 * After a start that failed (the call may have reached F&O anyway: DMF_START_UNCONFIRMED, a
 * timeout), asks GetExecutionSummaryStatus for the execution id: F&O has the last word. F&O may
 * register a start late, so "not found" is believed only once it has lasted `graceMs`
 * (`notStartedGraceSeconds`); meanwhile, and while F&O throttles (Retry-After) or is unavailable,
 * it asks again on durable timers with the project's backoff, up to `deadline`. Never throws.
 */
export function* confirmStart(
  context: OrchestrationContext,
  execution: {
    environment: string;
    executionId: string;
    graceMs: number;
    deadline: Date;
    polling: PollingSettings;
  },
): Generator<Task, StartCheck, unknown> {
  const since = context.df.currentUtcDateTime.getTime();
  for (let asked = 1; ; asked++) {
    const check = yield* askStatus(context, execution);
    if (check.kind === 'status') return { kind: 'registered' };
    if (check.kind === 'unavailable' && check.permanent === true)
      return { kind: 'unanswered', message: check.message, permanent: true };
    const now = context.df.currentUtcDateTime.getTime();
    const elapsedMs = now - since;
    if (check.kind === 'notFound' && elapsedMs >= execution.graceMs) return { kind: 'notRegistered' };
    let wait = backoffDelayMs(asked, execution.polling);
    if (check.kind === 'notFound') wait = Math.min(wait, execution.graceMs - elapsedMs);
    if (check.kind === 'throttled') wait = Math.max(wait, check.retryAfterMs ?? THROTTLED_WAIT_MS);
    if (now + wait >= execution.deadline.getTime()) {
      return check.kind === 'notFound'
        ? { kind: 'notRegistered' }
        : { kind: 'unanswered', message: check.message, permanent: false };
    }
    yield context.df.createTimer(new Date(now + wait));
  }
}

/** The job's error and outcome after a start that failed, unless F&O registered it after all. */
export type FailedStart = StartCheck & {
  error?: JobError;
  /**
   * `Failed`: F&O did not register the start (or refuses to be asked); `TimedOut`: whether it did
   * is unknown at the deadline — check F&O.
   */
  outcome?: 'Failed' | 'TimedOut';
};

/**
 * After a start that failed: what F&O says ({@link confirmStart}) and the job's error, unless F&O
 * registered the execution after all (then the job goes on as if the start had answered).
 */
export function* checkFailedStart(
  context: OrchestrationContext,
  start: {
    environment: string;
    executionId: string;
    /** Code of the job's error, e.g. `IMPORT_START_FAILED`. */
    code: string;
    /** What failed, for the message, e.g. `ExportToPackage`. */
    call: string;
    failure: string;
    graceMs: number;
    /** Until when F&O is asked again. */
    deadline: Date;
    polling: PollingSettings;
  },
): Generator<Task, FailedStart, unknown> {
  const check = yield* confirmStart(context, start);
  const failed = `${start.call} failed: ${start.failure}`;
  if (check.kind === 'registered') return check;
  if (check.kind === 'notRegistered')
    return { ...check, outcome: 'Failed', error: { code: start.code, message: failed } };
  if (check.permanent) {
    // F&O refuses the question itself: end readably rather than leave the job without a result
    const note = `Whether F&O registered execution ${start.executionId} could not be checked (${check.message}): look it up in F&O before trying again.`;
    return { ...check, outcome: 'Failed', error: { code: start.code, message: `${failed}. ${note}` } };
  }
  return {
    ...check,
    outcome: 'TimedOut',
    error: {
      code: 'DMF_START_UNCONFIRMED',
      message: `${failed}. F&O could not be asked until the deadline whether it registered execution ${start.executionId} (${check.message}): the outcome is unknown — check F&O for execution ${start.executionId} before trying again.`,
    },
  };
}

/**
 * The execution's F&O page and per entity counts (best effort: what F&O does not give is left out;
 * never throws).
 */
export function* summarizeExecution(
  context: OrchestrationContext,
  execution: { environment: string; executionId: string },
): Generator<Task, ExecutionSummary, unknown> {
  try {
    return yield* callActivity(context, EXECUTION_ACTIVITIES.summary, execution, STATUS_RETRY);
  } catch {
    return {};
  }
}

/** Waits between two attempts to fetch target error keys files F&O is still generating. */
export const TARGET_KEYS_WAIT_MS = 5_000;
/** Attempts to fetch pending target error keys files. */
export const TARGET_KEYS_ATTEMPTS = 12;

/**
 * Copies F&O's error details of an execution, then asks again, on durable timers, for the target
 * error keys files F&O was still generating — up to {@link TARGET_KEYS_ATTEMPTS} times. Returns what
 * it got; `pendingTargetKeys` names the entities whose file never came. Throws when the activity
 * keeps failing.
 */
export function* collectErrorDetails(
  context: OrchestrationContext,
  request: CollectErrorsInput,
): Generator<Task, CollectErrorsResult, unknown> {
  let collected = yield* callActivity(context, EXECUTION_ACTIVITIES.collectErrors, request, COLLECT_RETRY);
  const errors = [...collected.errors];
  const files = [...collected.files];
  for (let attempt = 0; collected.pendingTargetKeys.length > 0 && attempt < TARGET_KEYS_ATTEMPTS; attempt++) {
    yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + TARGET_KEYS_WAIT_MS));
    collected = yield* callActivity(
      context,
      EXECUTION_ACTIVITIES.collectErrors,
      { ...request, onlyTargetKeysFor: collected.pendingTargetKeys },
      COLLECT_RETRY,
    );
    files.push(...collected.files);
  }
  return { errors, files, pendingTargetKeys: collected.pendingTargetKeys };
}
