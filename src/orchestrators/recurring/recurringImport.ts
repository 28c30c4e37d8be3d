/**
 * The recurring import: enqueue the dropped file → poll GetMessageStatus on durable timers until a
 * final status → on errors, GetExecutionIdByMessageId and the execution's error collection
 * (execution errors, staging and target error files) → result JSON, archive, event.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { RECURRING_ACTIVITIES } from '../../activities/recurring/index.js';
import { EXECUTION_ACTIVITIES } from '../../activities/common/executions.js';
import { FINAL_MESSAGE_STATUSES } from '../../shared/dmf/index.js';
import {
  RecurringImportInputSchema,
  type RecurringImportOutcome,
  type RecurringImportResult,
} from '../../shared/jobs/index.js';
import { recurringLogicalPath } from '../../shared/storage/index.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity, type Retry } from '../common/call.js';
import {
  collectErrorDetails,
  summarizeExecution,
  THROTTLED_WAIT_MS,
  untilNotThrottled,
} from '../common/executions.js';
import { historyKey } from '../common/history.js';
import { recordQueued, waitForResume } from '../common/paused.js';
import { pollWithHistory } from '../common/polling.js';
import { orchestrationStart } from '../common/start.js';

/** Waits for the execution id while F&O is still producing it. */
export const FOLLOW_UP_WAIT_MS = 5_000;
/** Attempts of those waits. */
export const FOLLOW_UP_ATTEMPTS = 12;

/** Retry of one GetMessageStatus or GetExecutionIdByMessageId. */
const MESSAGE_RETRY: Retry = { attempts: 3, firstMs: 5_000 };

/** The orchestrator function. */
export function* recurringImportOrchestrator(
  context: OrchestrationContext,
): Generator<Task, RecurringImportResult, unknown> {
  const { input, instanceId, now } = orchestrationStart(context, RecurringImportInputSchema);
  const result: RecurringImportResult = {
    id: instanceId,
    kind: 'recurringImport',
    status: 'Failed',
    environment: input.environment,
    activityId: input.activityId,
    file: input.fileName,
    source: `${input.container}/${input.path}`,
    ...(input.entity ? { entity: input.entity } : {}),
    ...(input.company ? { company: input.company } : {}),
    polls: 0,
    timings: { requestedAt: input.requestedAt, finishedAt: '' },
    errors: [],
    errorFiles: [],
  };
  const status = (patch: Record<string, unknown>): void =>
    context.df.setCustomStatus({
      messageId: result.messageId,
      messageStatus: result.messageStatus,
      polls: result.polls,
      ...patch,
    });

  function* finish(outcome: RecurringImportOutcome): Generator<Task, RecurringImportResult, unknown> {
    status({ stage: 'Finishing' });
    result.status = outcome;
    result.timings.finishedAt = now().toISOString();
    const final = yield* callActivity(
      context,
      RECURRING_ACTIVITIES.finish,
      { result, container: input.container, path: input.path },
      { attempts: 5, firstMs: 5_000 },
    );
    status({ stage: 'Done' });
    return final;
  }

  // a) enqueue (not idempotent: the activity keeps a marker so a retry does not enqueue twice, and
  // answers `unknown` rather than sending again when F&O's answer was lost); a 429 queued nothing:
  // its Retry-After is waited out on durable timers up to the deadline
  status({ stage: 'Enqueueing' });
  let deadline = new Date(now().getTime() + input.polling.deadlineHours * 3_600_000);
  let listedQueued = false;
  let enqueued;
  for (;;) {
    enqueued = yield* untilNotThrottled(
      context,
      RECURRING_ACTIVITIES.enqueue,
      { ...input, instanceId },
      { attempts: 3, firstMs: 10_000 },
      {
        deadline,
        onThrottled: (until) =>
          status({ stage: 'Enqueueing', ...(until ? { throttledUntil: until.toISOString() } : {}) }),
      },
    );
    if (enqueued.kind !== 'paused') break;
    // the environment is paused: nothing was sent; listed Queued until the resume
    const { kind: _kind, ...pause } = enqueued;
    const paused = { environment: input.environment, ...pause };
    status({ stage: 'Enqueueing', paused });
    if (!listedQueued) yield* recordQueued(context, { kind: 'recurringImport', input, paused });
    listedQueued = true;
    yield* waitForResume(context);
    deadline = new Date(now().getTime() + input.polling.deadlineHours * 3_600_000);
  }
  if (listedQueued) status({ stage: 'Enqueueing' });
  if (enqueued.kind === 'threw') {
    result.errors.push({ code: 'ENQUEUE_FAILED', message: `Enqueue failed: ${enqueued.message}` });
    return yield* finish('Failed');
  }
  if (enqueued.kind === 'throttled') {
    result.errors.push({
      code: 'ENQUEUE_THROTTLED',
      message: `F&O throttled the enqueue (HTTP 429) until the deadline (${input.polling.deadlineHours} h): the file was not enqueued. ${enqueued.message}`,
    });
    return yield* finish('TimedOut');
  }
  result.bytes = enqueued.bytes;
  if (enqueued.kind === 'refused') {
    result.errors.push({ code: enqueued.code, message: enqueued.reason });
    return yield* finish('Rejected');
  }
  if (enqueued.kind === 'unknown') {
    // the file may be queued in F&O: never sent again, the job says what to check
    result.errors.push({ code: enqueued.code, message: enqueued.reason });
    return yield* finish('Unknown');
  }
  const { messageId } = enqueued;
  result.messageId = messageId;
  // a package job names no entity: its manifest does (for the error files of each entity)
  const entities = enqueued.entities ?? (input.entity ? [input.entity] : []);
  if (entities.length > 0) result.entities = entities;
  const enqueuedAt = now();
  result.timings.enqueuedAt = enqueuedAt.toISOString();

  // b) GetMessageStatus on durable timers until final or the deadline, planned like the package
  // imports' polls: from the activity's earlier processing times once it has a few. A word F&O
  // sends that the documented list lacks is shown and polled on (never final, never fatal).
  const message = { environment: input.environment, messageId };
  let throttled = false;
  const polled = yield* pollWithHistory(context, {
    since: enqueuedAt,
    deadlineMs: input.polling.deadlineHours * 3_600_000,
    settings: input.polling,
    historyKey: historyKey(input.environment, `recurring:${input.activityId}`),
    // the bytes enqueued: the activity's earlier processing times are scaled to them
    ...(enqueued.bytes > 0 ? { size: enqueued.bytes } : {}),
    poll: function* () {
      try {
        return yield* callActivity(context, RECURRING_ACTIVITIES.messageStatus, message, MESSAGE_RETRY);
      } catch (error) {
        return { kind: 'unavailable' as const, message: errorMessage(error) };
      }
    },
    waitAtLeastMs: (answer) =>
      answer.kind === 'throttled' ? (answer.retryAfterMs ?? THROTTLED_WAIT_MS) : undefined,
    onWait: (at) =>
      status({
        stage: 'Polling',
        nextPollAt: at.toISOString(),
        ...(throttled ? { throttledUntil: at.toISOString() } : {}),
      }),
    onAnswer: (answer, { polls }) => {
      result.polls = polls;
      throttled = answer.kind === 'throttled';
      if (answer.kind === 'status') result.messageStatus = answer.status;
    },
    judge: (answer) =>
      answer.kind !== 'status' ? 'noAnswer' : FINAL_MESSAGE_STATUSES.has(answer.status) ? 'done' : 'pending',
    learns: (answer) =>
      answer.kind === 'status' && (answer.status === 'Processed' || answer.status === 'ProcessedWithErrors'),
  });
  if (polled.kind === 'timedOut' || polled.answer.kind !== 'status') {
    result.errors.push({
      code: 'RECURRING_IMPORT_TIMED_OUT',
      message: `Message ${messageId} was not processed within ${input.polling.deadlineHours} h (last status ${result.messageStatus ?? 'none'}): the outcome is unknown — check the recurring data job's message ${messageId} in F&O.`,
    });
    return yield* finish('TimedOut');
  }
  const final = polled.answer.status;

  // c) the message's execution (its page, counts, errors) and the job's DataJobState
  status({ stage: final === 'Processed' ? 'Finishing' : 'CollectingErrors' });
  let executionId: string | null = null;
  try {
    for (let attempt = 0; attempt < FOLLOW_UP_ATTEMPTS && executionId === null; attempt++) {
      if (attempt > 0) yield context.df.createTimer(new Date(now().getTime() + FOLLOW_UP_WAIT_MS));
      executionId = yield* callActivity(context, RECURRING_ACTIVITIES.executionId, message, MESSAGE_RETRY);
    }
  } catch (error) {
    result.errors.push({
      code: 'EXECUTION_ID_UNKNOWN',
      message: `Could not ask F&O for the execution of message ${messageId}: ${errorMessage(error)}`,
    });
  }
  try {
    const state = yield* callActivity(
      context,
      RECURRING_ACTIVITIES.jobState,
      { ...message, activityId: input.activityId },
      MESSAGE_RETRY,
    );
    if (state.dataJobState) result.dataJobState = state.dataJobState;
  } catch {
    // best effort: the job's state word is shown when F&O gives it
  }
  if (executionId !== null) {
    result.executionId = executionId;
    Object.assign(
      result,
      yield* summarizeExecution(context, { environment: input.environment, executionId }),
    );
  }
  if (final === 'Processed') return yield* finish('Succeeded');

  // d) errors: the execution's error collection, for every entity of the file
  result.errors.push({
    code: `MESSAGE_${final.toUpperCase()}`,
    message: `F&O ended message ${messageId} with ${final}.`,
  });
  if (executionId === null) {
    if (!result.errors.some((e) => e.code === 'EXECUTION_ID_UNKNOWN')) {
      result.errors.push({
        code: 'EXECUTION_ID_UNKNOWN',
        message: `F&O gave no execution id for message ${messageId}.`,
      });
    }
    return yield* finish('Failed');
  }
  try {
    const collected = yield* collectErrorDetails(context, {
      instanceId,
      environment: input.environment,
      executionId,
      logicalPath: recurringLogicalPath(input.path),
      entities,
    });
    result.errors.push(...collected.errors);
    result.errorFiles.push(...collected.files);
  } catch (error) {
    result.errors.push({
      code: 'ERROR_FILES_UNAVAILABLE',
      message: `Could not copy F&O's error details: ${errorMessage(error)}`,
    });
  }
  // ProcessedWithErrors covers an execution that imported some rows (PartiallySucceeded) and one
  // that imported none (Failed): the execution's status tells
  let executionStatus: string | undefined;
  if (final === 'ProcessedWithErrors') {
    try {
      const answer = yield* callActivity(
        context,
        EXECUTION_ACTIVITIES.getStatus,
        { environment: input.environment, executionId },
        MESSAGE_RETRY,
      );
      if (answer.kind === 'status') executionStatus = answer.status;
    } catch {
      // unknown: Failed, as before
    }
  }
  return yield* finish(executionStatus === 'PartiallySucceeded' ? 'PartiallySucceeded' : 'Failed');
}
