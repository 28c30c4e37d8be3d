/**
 * The recurring import's activities: enqueue the dropped blob (streamed), GetMessageStatus,
 * GetExecutionIdByMessageId, finish (archive, result JSON, event). Its error files come from the
 * execution activities every kind of job shares (src/activities/common/executions.ts).
 */
import { z } from 'zod';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { DmfApiError } from '../../shared/dmf/index.js';
import { RECURRING_EVENT_SOURCE, RECURRING_EVENT_TYPES } from '../../shared/events/index.js';
import {
  RecurringImportInputSchema,
  type RecurringImportInput,
  type RecurringImportResult,
} from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  archiveBlobPath,
  enqueuedMarkerPath,
  isNotFound,
  openBlobStream,
  recordJob,
  recurringLogicalPath,
  storageError,
  writeJsonBlob,
} from '../../shared/storage/index.js';
import { archiveSource, publishEvent, recordFinal, storeResult } from '../common/results.js';

/** Output of the enqueue activity. */
export type EnqueueResult =
  | { kind: 'enqueued'; messageId: string; bytes: number }
  | { kind: 'refused'; code: string; reason: string; bytes: number };

/**
 * Enqueues the dropped file, streamed from storage (a factory, so a 401/429 can resend it). Files
 * over `maxEnqueueBytes` are refused. The message id is written to a marker blob before returning,
 * so a retry of this activity after a crash finds it instead of enqueueing the file twice.
 */
export async function enqueueFile(
  runtime: Runtime,
  input: RecurringImportInput & { instanceId: string },
  logger: Logger,
): Promise<EnqueueResult> {
  const results = runtime.containers.results;
  const marker = enqueuedMarkerPath(input.environment, input.activityId, input.instanceId);
  try {
    const known = JSON.parse((await results.getBlobClient(marker).downloadToBuffer()).toString('utf8')) as {
      messageId: string;
      bytes: number;
    };
    logger.info(`File was enqueued before as message ${known.messageId}`);
    return { kind: 'enqueued', messageId: known.messageId, bytes: known.bytes };
  } catch (error) {
    if (!isNotFound(error)) throw storageError(`reading ${results.containerName}/${marker}`, error);
  }
  const container = runtime.blobService.getContainerClient(input.container);
  let bytes: number;
  try {
    bytes = (await container.getBlobClient(input.path).getProperties()).contentLength ?? 0;
  } catch (error) {
    throw storageError(`reading ${input.container}/${input.path}`, error);
  }
  if (bytes > input.maxEnqueueBytes) {
    return {
      kind: 'refused',
      code: 'ENQUEUE_TOO_LARGE',
      bytes,
      reason:
        `The file is ${bytes} bytes; the recurring integration API takes at most ${input.maxEnqueueBytes} bytes ` +
        '(F&O refuses bodies of about 50 MB with 413). Import it through the package API instead: drop it in the ' +
        'inbound container under {environment}/{data project}/[{legalEntity}/]{file}, or POST it to /api/imports.',
    };
  }
  const messageId = await runtime
    .clients(input.environment)
    .recurring.enqueue(input.activityId, () => openBlobStream(container, input.path), {
      ...(input.entity ? { entity: input.entity } : {}),
      ...(input.company ? { company: input.company } : {}),
      externalIdentifier: input.fileName,
      timeoutMs: 300_000,
    });
  await writeJsonBlob(results, marker, { messageId, bytes, enqueuedAt: new Date().toISOString() });
  logger.info(`Enqueued ${input.path} (${bytes} bytes) as message ${messageId}`);
  return { kind: 'enqueued', messageId, bytes };
}

/** A message of an environment. */
const MessageRefSchema = z.object({ environment: z.string(), messageId: z.string() });

/** GetMessageStatus; transient trouble that outlived the retries is `unavailable`, not a throw. */
export async function messageStatus(
  runtime: Runtime,
  input: z.infer<typeof MessageRefSchema>,
): Promise<{ kind: 'status'; status: string } | { kind: 'unavailable'; message: string }> {
  try {
    return {
      kind: 'status',
      status: await runtime.clients(input.environment).recurring.getMessageStatus(input.messageId),
    };
  } catch (error) {
    if (error instanceof DmfApiError && error.transient)
      return { kind: 'unavailable', message: error.message };
    throw error;
  }
}

/** GetExecutionIdByMessageId; null while the message is still queued. */
export async function executionIdOf(
  runtime: Runtime,
  input: z.infer<typeof MessageRefSchema>,
): Promise<string | null> {
  return (
    (await runtime.clients(input.environment).recurring.getExecutionIdByMessageId(input.messageId)) ?? null
  );
}

/** Input of the finish activity: the result our orchestration built, and where the source is. */
const FinishInputSchema = z.object({
  result: ownValue<RecurringImportResult>('the recurring import result'),
  container: z.string(),
  path: z.string(),
});

/** Archives the source, writes the result JSON and publishes the event of a recurring import. */
export async function finishRecurringImport(
  runtime: Runtime,
  input: z.infer<typeof FinishInputSchema>,
  logger: Logger,
): Promise<RecurringImportResult> {
  const logicalPath = recurringLogicalPath(input.path);
  let final: RecurringImportResult = { ...input.result };
  if (final.status !== 'Rejected') {
    const archivedTo = await archiveSource(
      runtime,
      { container: input.container, path: input.path },
      archiveBlobPath(final.status === 'Succeeded' ? 'succeeded' : 'failed', logicalPath, final.id),
      logger,
    );
    if (archivedTo) final.archivedTo = archivedTo;
  }
  final = await storeResult(runtime, logicalPath, final);
  await recordFinal(runtime, logger, 'recurringImport', final);
  await publishEvent(runtime, {
    id: final.id,
    type:
      final.status === 'Succeeded'
        ? RECURRING_EVENT_TYPES.importCompleted
        : RECURRING_EVENT_TYPES.importFailed,
    source: RECURRING_EVENT_SOURCE,
    subject: input.path,
    time: new Date(),
    data: final,
  });
  logger.info(`Recurring import ${final.id} finished: ${final.status}; result in ${final.resultBlob}`);
  return final;
}

/** Enqueues the file (see {@link enqueueFile}); the job index then shows it Running (Polling). */
export const enqueueActivity = defineActivity({
  name: 'recurringEnqueue',
  input: RecurringImportInputSchema.extend({ instanceId: z.string() }),
  log: ({ instanceId }) => ({ instanceId }),
  handler: async (input, { runtime, logger }) => {
    const enqueued = await enqueueFile(runtime, input, logger);
    if (enqueued.kind === 'enqueued') {
      const { instanceId, ...orchestrationInput } = input;
      await recordJob(runtime.jobIndex, logger, 'recurringImport', {
        instanceId,
        runtimeStatus: 'Running',
        input: orchestrationInput,
        customStatus: { stage: 'Polling', messageId: enqueued.messageId },
        createdTime: input.requestedAt,
        lastUpdatedTime: new Date(),
      });
    }
    return enqueued;
  },
});

/** One GetMessageStatus (see {@link messageStatus}). */
export const messageStatusActivity = defineActivity({
  name: 'recurringMessageStatus',
  input: MessageRefSchema,
  handler: (input, { runtime }) => messageStatus(runtime, input),
});

/** One GetExecutionIdByMessageId (see {@link executionIdOf}). */
export const executionIdActivity = defineActivity({
  name: 'recurringExecutionId',
  input: MessageRefSchema,
  handler: (input, { runtime }) => executionIdOf(runtime, input),
});

/** Finishes a recurring import (see {@link finishRecurringImport}). */
export const finishActivity = defineActivity({
  name: 'recurringImportFinish',
  input: FinishInputSchema,
  log: ({ result }) => ({ instanceId: result.id }),
  handler: (input, { runtime, logger }) => finishRecurringImport(runtime, input, logger),
});
