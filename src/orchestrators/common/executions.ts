/**
 * What imports, exports and recurring imports do alike with an F&O execution inside an
 * orchestration: confirm a start that failed, poll the status until it is final, collect the error
 * details. Sub-generators (`yield*`), deterministic.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import {
  EXECUTION_ACTIVITIES,
  type CollectErrorsInput,
  type CollectErrorsResult,
  type StatusResult,
} from '../../activities/common/executions.js';
import type { PollingConfig } from '../../shared/config/index.js';
import { appendPoll, type JobError, type PollLogEntry } from '../../shared/jobs/index.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity, type Retry } from './call.js';
import { pollWithHistory } from './polling.js';

/** F&O statuses after which nothing changes any more (`Unknown` is not one: see `getStatus`). */
export const FINAL_EXECUTION_STATUSES: ReadonlySet<string> = new Set([
  'Succeeded',
  'PartiallySucceeded',
  'Failed',
  'Canceled',
]);

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
    return yield* callActivity(context, EXECUTION_ACTIVITIES.getStatus, execution, STATUS_RETRY);
  } catch (error) {
    return { kind: 'unavailable', message: errorMessage(error) };
  }
}

/** What {@link pollExecution} reports after each poll. */
export interface PollProgress {
  polls: number;
  foStatus?: string;
  nextPollAt?: string;
  /** The last `POLL_LOG_LIMIT` polls, oldest first (time from `currentUtcDateTime`). */
  pollLog: PollLogEntry[];
}

/** Outcome of {@link pollExecution}. */
export type PollOutcome =
  | { kind: 'final'; status: string; polls: number }
  | { kind: 'notFound'; polls: number; graceMs: number }
  | { kind: 'timedOut'; polls: number; lastStatus: string | undefined };

/**
 * Polls GetExecutionSummaryStatus until a final status, the "not found" grace after `startedAt` or
 * the deadline. Deterministic (durable timers only).
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
    onProgress?: (progress: PollProgress) => void;
  },
): Generator<Task, PollOutcome, unknown> {
  const graceMs = options.polling.notStartedGraceSeconds * 1000;
  let pollLog: PollLogEntry[] = [];
  let lastStatus: string | undefined;
  const known = (): { foStatus?: string } => (lastStatus ? { foStatus: lastStatus } : {});
  const polled = yield* pollWithHistory<StatusResult>(context, {
    since: options.startedAt,
    deadlineMs: options.polling.deadlineHours * 3_600_000,
    settings: options.polling,
    ...(options.historyKey !== undefined ? { historyKey: options.historyKey } : {}),
    poll: () => askStatus(context, { environment: options.environment, executionId: options.executionId }),
    onWait: (at, { polls }) =>
      options.onProgress?.({ polls, ...known(), nextPollAt: at.toISOString(), pollLog }),
    onAnswer: (answer, { polls }) => {
      pollLog = appendPoll(pollLog, {
        at: context.df.currentUtcDateTime.toISOString(),
        ...(answer.kind === 'status' ? { foStatus: answer.status } : { answer: answer.kind }),
      });
      if (answer.kind === 'status') lastStatus = answer.status;
      options.onProgress?.({ polls, ...known(), pollLog });
    },
    judge: (answer, { elapsedMs }) => {
      if (answer.kind === 'status') return FINAL_EXECUTION_STATUSES.has(answer.status) ? 'done' : 'pending';
      if (answer.kind === 'notFound') return elapsedMs > graceMs ? 'done' : 'pending';
      return 'unknown';
    },
    learns: (answer) =>
      answer.kind === 'status' && (answer.status === 'Succeeded' || answer.status === 'PartiallySucceeded'),
  });
  if (polled.kind === 'timedOut') return { kind: 'timedOut', polls: polled.polls, lastStatus };
  if (polled.answer.kind === 'status')
    return { kind: 'final', status: polled.answer.status, polls: polled.polls };
  return { kind: 'notFound', polls: polled.polls, graceMs };
}

/** What F&O says about an execution whose start call failed (see {@link confirmStart}). */
export type StartCheck =
  | { kind: 'registered' }
  | { kind: 'notRegistered' }
  /** F&O could not be asked either: the execution may or may not exist. */
  | { kind: 'unknown'; message: string };

/**
 * After a start that failed (the call may have reached F&O anyway: DMF_START_UNCONFIRMED), asks
 * GetExecutionSummaryStatus for the execution id: F&O has the last word. Never throws.
 */
export function* confirmStart(
  context: OrchestrationContext,
  execution: { environment: string; executionId: string },
): Generator<Task, StartCheck, unknown> {
  const check = yield* askStatus(context, {
    environment: execution.environment,
    executionId: execution.executionId,
  });
  if (check.kind === 'status') return { kind: 'registered' };
  if (check.kind === 'notFound') return { kind: 'notRegistered' };
  return { kind: 'unknown', message: check.message };
}

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
  },
): Generator<Task, StartCheck & { error?: JobError }, unknown> {
  const check = yield* confirmStart(context, start);
  const failed = `${start.call} failed: ${start.failure}`;
  if (check.kind === 'notRegistered') return { ...check, error: { code: start.code, message: failed } };
  if (check.kind === 'registered') return check;
  // F&O could not be asked either: end readably rather than leave the job without a result
  const note = `Whether F&O registered execution ${start.executionId} could not be checked (${check.message}): look it up in F&O before trying again.`;
  return { ...check, error: { code: start.code, message: `${failed}. ${note}` } };
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
