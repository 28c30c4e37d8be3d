/**
 * The recurring import: enqueue the dropped file → poll GetMessageStatus on durable timers until a
 * final status → on errors, GetExecutionIdByMessageId and the execution's error collection
 * (execution errors, staging and target error files) → result JSON, archive, event.
 */
import type { OrchestrationContext, Task } from 'durable-functions';
import { RECURRING_ACTIVITIES } from '../../activities/recurring/index.js';
import type { EnqueueResult } from '../../activities/recurring/enqueue.js';
import { FINAL_MESSAGE_STATUSES } from '../../shared/dmf/index.js';
import {
  RecurringImportInputSchema,
  type RecurringImportOutcome,
  type RecurringImportResult,
} from '../../shared/jobs/index.js';
import { recurringLogicalPath } from '../../shared/storage/index.js';
import { errorMessage } from '../../shared/util.js';
import { callActivity, type Retry } from '../common/call.js';
import { collectErrorDetails } from '../common/executions.js';
import { historyKey } from '../common/history.js';
import { pollWithHistory } from '../common/polling.js';

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
  const input = RecurringImportInputSchema.parse(context.df.getInput());
  const instanceId = context.df.instanceId;
  const now = (): Date => context.df.currentUtcDateTime;
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
  // answers `unknown` rather than sending again when F&O's answer was lost)
  status({ stage: 'Enqueueing' });
  let enqueued: EnqueueResult;
  try {
    enqueued = yield* callActivity(
      context,
      RECURRING_ACTIVITIES.enqueue,
      { ...input, instanceId },
      { attempts: 3, firstMs: 10_000 },
    );
  } catch (error) {
    result.errors.push({ code: 'ENQUEUE_FAILED', message: `Enqueue failed: ${errorMessage(error)}` });
    return yield* finish('Failed');
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
  const enqueuedAt = now();
  result.timings.enqueuedAt = enqueuedAt.toISOString();

  // b) GetMessageStatus on durable timers until final or the deadline, planned like the package
  // imports' polls: from the activity's earlier processing times once it has a few
  const message = { environment: input.environment, messageId };
  const polled = yield* pollWithHistory(context, {
    since: enqueuedAt,
    deadlineMs: input.polling.deadlineHours * 3_600_000,
    settings: input.polling,
    historyKey: historyKey(input.environment, `recurring:${input.activityId}`),
    poll: function* () {
      try {
        return yield* callActivity(context, RECURRING_ACTIVITIES.messageStatus, message, MESSAGE_RETRY);
      } catch (error) {
        return { kind: 'unavailable' as const, message: errorMessage(error) };
      }
    },
    onWait: (at) => status({ stage: 'Polling', nextPollAt: at.toISOString() }),
    onAnswer: (answer, { polls }) => {
      result.polls = polls;
      if (answer.kind === 'status') result.messageStatus = answer.status;
    },
    judge: (answer) =>
      answer.kind !== 'status' ? 'unknown' : FINAL_MESSAGE_STATUSES.has(answer.status) ? 'done' : 'pending',
    learns: (answer) =>
      answer.kind === 'status' && (answer.status === 'Processed' || answer.status === 'ProcessedWithErrors'),
  });
  if (polled.kind === 'timedOut' || polled.answer.kind !== 'status') {
    result.errors.push({
      code: 'RECURRING_IMPORT_TIMED_OUT',
      message: `Message ${messageId} was not processed within ${input.polling.deadlineHours} h (last status ${result.messageStatus ?? 'unknown'}).`,
    });
    return yield* finish('TimedOut');
  }
  const final = polled.answer.status;
  if (final === 'Processed') return yield* finish('Succeeded');

  // c) errors: execution id of the message, then the execution's error collection
  status({ stage: 'CollectingErrors' });
  result.errors.push({
    code: `MESSAGE_${final.toUpperCase()}`,
    message: `F&O ended message ${messageId} with ${final}.`,
  });
  try {
    let executionId: string | null = null;
    for (let attempt = 0; attempt < FOLLOW_UP_ATTEMPTS && executionId === null; attempt++) {
      if (attempt > 0) yield context.df.createTimer(new Date(now().getTime() + FOLLOW_UP_WAIT_MS));
      executionId = yield* callActivity(context, RECURRING_ACTIVITIES.executionId, message, MESSAGE_RETRY);
    }
    if (executionId !== null) {
      result.executionId = executionId;
      const collected = yield* collectErrorDetails(context, {
        instanceId,
        environment: input.environment,
        executionId,
        logicalPath: recurringLogicalPath(input.path),
        entities: input.entity ? [input.entity] : [],
      });
      result.errors.push(...collected.errors);
      result.errorFiles.push(...collected.files);
    } else {
      result.errors.push({
        code: 'EXECUTION_ID_UNKNOWN',
        message: `F&O gave no execution id for message ${messageId}.`,
      });
    }
  } catch (error) {
    result.errors.push({
      code: 'ERROR_FILES_UNAVAILABLE',
      message: `Could not copy F&O's error details: ${errorMessage(error)}`,
    });
  }
  return yield* finish('Failed');
}
