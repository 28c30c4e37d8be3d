/**
 * What imports and exports do alike with an F&O execution inside an orchestration: confirm a start
 * that failed, and poll — waits planned by `nextPollDelayMs` on durable timers, the status activity,
 * a bounded "not found" grace and a deadline. Sub-generators (`yield*`), deterministic.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { PollingConfig } from '../shared/config/index.js';
import { estimatedDurationMs, nextPollDelayMs } from '../shared/polling/schedule.js';
import { IMPORT_ACTIVITIES, IMPORT_ENTITIES } from '../activities/names.js';
import { appendPoll, type PollLogEntry } from '../shared/jobs/index.js';
import type { CollectErrorsInput, CollectErrorsResult, StatusResult } from './input.js';

/** F&O statuses after which nothing changes any more. */
export const FINAL_EXECUTION_STATUSES: ReadonlySet<string> = new Set([
  'Succeeded',
  'PartiallySucceeded',
  'Failed',
  'Canceled',
]);

/** Activity retry options with exponential backoff (capped at one minute). */
export function activityRetry(attempts: number, firstMs: number): df.RetryOptions {
  const options = new df.RetryOptions(firstMs, attempts);
  options.backoffCoefficient = 2;
  options.maxRetryIntervalInMilliseconds = 60_000;
  return options;
}

/** First line of an error's message. */
export const errorMessage = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'unknown error';

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
  | {
      kind: 'final';
      status: string;
      polls: number;
      /** Ms after the start of the last poll that found the execution unfinished (0: none). */
      lastUnfinishedMs: number;
    }
  | { kind: 'notFound'; polls: number; graceMs: number }
  | { kind: 'timedOut'; polls: number; lastStatus: string | undefined };

/**
 * Polls GetExecutionSummaryStatus (the import's `importGetStatus` activity) until a final status,
 * the "not found" grace after `startedAt` or the deadline. Deterministic (durable timers only).
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
  const now = (): Date => context.df.currentUtcDateTime;
  const historyEntity =
    options.historyKey === undefined
      ? undefined
      : new df.EntityId(IMPORT_ENTITIES.history, options.historyKey);
  const history = historyEntity ? ((yield context.df.callEntity(historyEntity, 'get')) as number[]) : [];
  const deadlineMs = options.polling.deadlineHours * 3_600_000;
  const graceMs = options.polling.notStartedGraceSeconds * 1000;
  let polls = 0;
  let pollLog: PollLogEntry[] = [];
  let lastStatus: string | undefined;
  let lastUnfinishedMs = 0;
  for (;;) {
    const elapsed = now().getTime() - options.startedAt.getTime();
    if (elapsed >= deadlineMs) return { kind: 'timedOut', polls, lastStatus };
    const delay = Math.min(
      nextPollDelayMs({
        elapsedMs: elapsed,
        pollsSoFar: polls,
        settings: options.polling,
        history,
      }),
      deadlineMs - elapsed,
    );
    const at = new Date(now().getTime() + delay);
    options.onProgress?.({
      polls,
      ...(lastStatus ? { foStatus: lastStatus } : {}),
      nextPollAt: at.toISOString(),
      pollLog,
    });
    yield context.df.createTimer(at);
    let polled: StatusResult;
    try {
      polled = (yield context.df.callActivityWithRetry(IMPORT_ACTIVITIES.getStatus, activityRetry(3, 5_000), {
        environment: options.environment,
        executionId: options.executionId,
      })) as StatusResult;
    } catch (error) {
      polled = { kind: 'unavailable', message: errorMessage(error) };
    }
    polls++;
    pollLog = appendPoll(pollLog, {
      at: now().toISOString(),
      ...(polled.kind === 'status' ? { foStatus: polled.status } : { answer: polled.kind }),
    });
    if (polled.kind === 'status') {
      lastStatus = polled.status;
      options.onProgress?.({ polls, foStatus: lastStatus, pollLog });
      if (FINAL_EXECUTION_STATUSES.has(polled.status)) {
        if (historyEntity && (polled.status === 'Succeeded' || polled.status === 'PartiallySucceeded')) {
          const finishedMs = now().getTime() - options.startedAt.getTime();
          context.df.signalEntity(
            historyEntity,
            'add',
            estimatedDurationMs({ lastUnfinishedMs, finishedMs }),
          );
        }
        return { kind: 'final', status: polled.status, polls, lastUnfinishedMs };
      }
      lastUnfinishedMs = now().getTime() - options.startedAt.getTime();
    } else {
      options.onProgress?.({ polls, ...(lastStatus ? { foStatus: lastStatus } : {}), pollLog });
      if (polled.kind === 'notFound') {
        if (now().getTime() - options.startedAt.getTime() > graceMs)
          return { kind: 'notFound', polls, graceMs };
        lastUnfinishedMs = now().getTime() - options.startedAt.getTime();
      }
    }
  }
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
  options: { environment: string; executionId: string },
): Generator<Task, StartCheck, unknown> {
  let check: StatusResult;
  try {
    check = (yield context.df.callActivityWithRetry(
      IMPORT_ACTIVITIES.getStatus,
      activityRetry(3, 5_000),
      options,
    )) as StatusResult;
  } catch (error) {
    check = { kind: 'unavailable', message: errorMessage(error) };
  }
  if (check.kind === 'status') return { kind: 'registered' };
  if (check.kind === 'notFound') return { kind: 'notRegistered' };
  return { kind: 'unknown', message: check.message };
}

/** The sentence a job's error adds when {@link confirmStart} could not tell. */
export function unconfirmedStartNote(executionId: string, message: string): string {
  return `Whether F&O registered execution ${executionId} could not be checked (${message}): look it up in F&O before trying again.`;
}

/** Waits between two attempts to fetch target error keys files F&O is still generating. */
export const TARGET_KEYS_WAIT_MS = 5_000;
/** Attempts to fetch pending target error keys files. */
export const TARGET_KEYS_ATTEMPTS = 12;

/**
 * Copies F&O's error details of an execution (the import's error collection activity), then asks
 * again, on durable timers, for the target error keys files F&O was still generating — up to
 * {@link TARGET_KEYS_ATTEMPTS} times. Returns what it got; `pendingTargetKeys` names the entities
 * whose file never came. Throws when the activity keeps failing.
 */
export function* collectErrorDetails(
  context: OrchestrationContext,
  request: CollectErrorsInput,
): Generator<Task, CollectErrorsResult, unknown> {
  let collected = (yield context.df.callActivityWithRetry(
    IMPORT_ACTIVITIES.collectErrors,
    activityRetry(4, 5_000),
    request,
  )) as CollectErrorsResult;
  const errors = [...collected.errors];
  const files = [...collected.files];
  for (let attempt = 0; collected.pendingTargetKeys.length > 0 && attempt < TARGET_KEYS_ATTEMPTS; attempt++) {
    yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + TARGET_KEYS_WAIT_MS));
    collected = (yield context.df.callActivityWithRetry(
      IMPORT_ACTIVITIES.collectErrors,
      activityRetry(4, 5_000),
      {
        ...request,
        onlyTargetKeysFor: collected.pendingTargetKeys,
      },
    )) as CollectErrorsResult;
    files.push(...collected.files);
  }
  return { errors, files, pendingTargetKeys: collected.pendingTargetKeys };
}
