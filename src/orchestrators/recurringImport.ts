/**
 * The recurring import: enqueue the dropped file → poll GetMessageStatus on durable timers until a
 * final status → on errors, GetExecutionIdByMessageId and the import's error collection (execution
 * errors, staging and target error files) → result JSON, archive, event.
 */
import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import { RECURRING_ACTIVITIES, RECURRING_IMPORT_ORCHESTRATOR } from '../activities/exportNames.js';
import { historyKey, IMPORT_ENTITIES } from '../activities/names.js';
import { estimatedDurationMs, nextPollDelayMs } from '../shared/polling/schedule.js';
import type { CollectErrorsInput } from './input.js';
import { activityRetry, collectErrorDetails, errorMessage } from './executionPolling.js';
import {
  RecurringImportInputSchema,
  type EnqueueResult,
  type RecurringImportOutcome,
  type RecurringImportResult,
} from './recurringInput.js';

/** GetMessageStatus answers after which nothing changes any more (canonical spellings). */
export const FINAL_MESSAGE_STATUSES: ReadonlySet<string> = new Set([
  'Processed',
  'ProcessedWithErrors',
  'PreProcessingError',
  'PostProcessingFailed',
]);
/** Waits for the execution id / target keys files while F&O is still producing them. */
export const FOLLOW_UP_WAIT_MS = 5_000;
/** Attempts of those waits. */
export const FOLLOW_UP_ATTEMPTS = 12;

/** The orchestrator function (exported for tests; registered below). */
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
    const final = (yield context.df.callActivityWithRetry(
      RECURRING_ACTIVITIES.finish,
      activityRetry(5, 5_000),
      {
        result,
        container: input.container,
        path: input.path,
      },
    )) as RecurringImportResult;
    status({ stage: 'Done' });
    return final;
  }

  // a) enqueue (not idempotent: the activity keeps a marker so a retry does not enqueue twice)
  status({ stage: 'Enqueueing' });
  let enqueued: EnqueueResult;
  try {
    enqueued = (yield context.df.callActivityWithRetry(
      RECURRING_ACTIVITIES.enqueue,
      activityRetry(3, 10_000),
      {
        ...input,
        instanceId,
      },
    )) as EnqueueResult;
  } catch (error) {
    result.errors.push({ code: 'ENQUEUE_FAILED', message: `Enqueue failed: ${errorMessage(error)}` });
    return yield* finish('Failed');
  }
  result.bytes = enqueued.bytes;
  if (enqueued.kind === 'refused') {
    result.errors.push({ code: enqueued.code, message: enqueued.reason });
    return yield* finish('Rejected');
  }
  result.messageId = enqueued.messageId;
  const enqueuedAt = now();
  result.timings.enqueuedAt = enqueuedAt.toISOString();

  // b) GetMessageStatus on durable timers until final or the deadline, planned like the package
  // imports' polls: from the activity's earlier processing times once it has a few
  const historyEntity = new df.EntityId(
    IMPORT_ENTITIES.history,
    historyKey(input.environment, `recurring:${input.activityId}`),
  );
  const history = (yield context.df.callEntity(historyEntity, 'get')) as number[];
  const deadlineMs = input.polling.deadlineHours * 3_600_000;
  let final: string | undefined;
  let lastUnfinishedMs = 0;
  for (;;) {
    const elapsed = now().getTime() - enqueuedAt.getTime();
    if (elapsed >= deadlineMs) break;
    const delay = Math.min(
      nextPollDelayMs({ elapsedMs: elapsed, pollsSoFar: result.polls, settings: input.polling, history }),
      deadlineMs - elapsed,
    );
    const at = new Date(now().getTime() + delay);
    status({ stage: 'Polling', nextPollAt: at.toISOString() });
    yield context.df.createTimer(at);
    let polled: { kind: 'status'; status: string } | { kind: 'unavailable'; message: string };
    try {
      polled = (yield context.df.callActivityWithRetry(
        RECURRING_ACTIVITIES.messageStatus,
        activityRetry(3, 5_000),
        {
          environment: input.environment,
          messageId: enqueued.messageId,
        },
      )) as typeof polled;
    } catch (error) {
      polled = { kind: 'unavailable', message: errorMessage(error) };
    }
    result.polls++;
    if (polled.kind === 'status') {
      result.messageStatus = polled.status;
      if (FINAL_MESSAGE_STATUSES.has(polled.status)) {
        final = polled.status;
        break;
      }
      lastUnfinishedMs = now().getTime() - enqueuedAt.getTime();
    }
  }
  if (final === 'Processed' || final === 'ProcessedWithErrors') {
    context.df.signalEntity(
      historyEntity,
      'add',
      estimatedDurationMs({ lastUnfinishedMs, finishedMs: now().getTime() - enqueuedAt.getTime() }),
    );
  }
  if (final === undefined) {
    result.errors.push({
      code: 'RECURRING_IMPORT_TIMED_OUT',
      message: `Message ${enqueued.messageId} was not processed within ${input.polling.deadlineHours} h (last status ${result.messageStatus ?? 'unknown'}).`,
    });
    return yield* finish('TimedOut');
  }
  if (final === 'Processed') return yield* finish('Succeeded');

  // c) errors: execution id of the message, then the import's error collection
  status({ stage: 'CollectingErrors' });
  result.errors.push({
    code: `MESSAGE_${final.toUpperCase()}`,
    message: `F&O ended message ${enqueued.messageId} with ${final}.`,
  });
  try {
    let executionId: string | null = null;
    for (let attempt = 0; attempt < FOLLOW_UP_ATTEMPTS && executionId === null; attempt++) {
      if (attempt > 0) yield context.df.createTimer(new Date(now().getTime() + FOLLOW_UP_WAIT_MS));
      executionId = (yield context.df.callActivityWithRetry(
        RECURRING_ACTIVITIES.executionId,
        activityRetry(3, 5_000),
        {
          environment: input.environment,
          messageId: enqueued.messageId,
        },
      )) as string | null;
    }
    if (executionId !== null) {
      result.executionId = executionId;
      const request: CollectErrorsInput = {
        instanceId,
        environment: input.environment,
        executionId,
        logicalPath: `recurring/${input.path}`,
        entities: input.entity ? [input.entity] : [],
      };
      const collected = yield* collectErrorDetails(context, request);
      result.errors.push(...collected.errors);
      result.errorFiles.push(...collected.files);
    } else {
      result.errors.push({
        code: 'EXECUTION_ID_UNKNOWN',
        message: `F&O gave no execution id for message ${enqueued.messageId}.`,
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

df.app.orchestration(RECURRING_IMPORT_ORCHESTRATOR, recurringImportOrchestrator);
