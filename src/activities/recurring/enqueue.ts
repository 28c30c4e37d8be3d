/**
 * The recurring import's activities: enqueue the dropped blob (streamed), GetMessageStatus,
 * GetExecutionIdByMessageId, finish (archive, result JSON, event). Its error files come from the
 * execution activities every kind of job shares (src/activities/common/executions.ts).
 */
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { z } from 'zod';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { DmfApiError, DmfErrorCode } from '../../shared/dmf/index.js';
import { errorMessage } from '../../shared/util.js';
import { RECURRING_EVENT_SOURCE, RECURRING_EVENT_TYPES } from '../../shared/events/index.js';
import {
  RecurringImportInputSchema,
  type RecurringImportInput,
  type RecurringImportResult,
} from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  blobSource,
  MANIFEST_FILE_NAME,
  openPackage,
  parseManifest,
  type BlobRangeClient,
} from '../../shared/packages/index.js';
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
import { throttledBy, type Throttled } from '../common/executions.js';
import { pausedGate, type Paused } from '../common/queued.js';
import { alertFinal, archiveSource, publishEvent, recordFinal, storeResult } from '../common/results.js';

/**
 * Output of the enqueue activity: enqueued (with the entity labels of a package job's manifest, for
 * its error details); refused (too large); throttled (429: nothing was queued, the orchestration
 * waits Retry-After on a durable timer and calls again).
 */
export type EnqueueResult =
  | { kind: 'enqueued'; messageId: string; bytes: number; entities?: string[] }
  | { kind: 'refused'; code: string; reason: string; bytes: number }
  /** The request may have reached F&O, but no answer says whether it queued a message. */
  | { kind: 'unknown'; code: string; reason: string; bytes: number; sentAt: string }
  | Throttled;

/** What the marker blob of an enqueue says: sent and answered, or sent and not (yet) answered. */
type EnqueueMarker =
  | { messageId: string; bytes: number; enqueuedAt?: string }
  | { sending: true; bytes: number; sentAt: string };

/**
 * True when a failed enqueue certainly queued nothing: F&O answered with a refusal that does not
 * depend on timing (a 4xx other than 408/429), or the request never left (no token).
 */
function certainlyNotQueued(error: unknown): boolean {
  if (!(error instanceof DmfApiError)) return false;
  if (error.code === DmfErrorCode.AuthFailed) return true;
  return error.status !== undefined && error.status >= 400 && error.status < 500 && !error.transient;
}

/**
 * The entity labels in a package's Manifest.xml (a package job names no entity: its manifest does),
 * or `[]` when the file is no readable package (F&O then reports it in the message's status).
 */
async function packageEntities(blob: BlobRangeClient, logger: Logger): Promise<string[]> {
  try {
    const reader = await openPackage(await blobSource(blob));
    try {
      if (!reader.getEntry(MANIFEST_FILE_NAME)) return [];
      return parseManifest(await reader.readEntry(MANIFEST_FILE_NAME))
        .entities.map((e) => e.entityName)
        .filter((name) => name !== '');
    } finally {
      await reader.close();
    }
  } catch (error) {
    logger.warn(`Could not read the entities of the package: ${errorMessage(error)}`);
    return [];
  }
}

/**
 * Enqueues the dropped file, streamed from storage (a factory, so a 401/429 can resend it). Files
 * over `maxEnqueueBytes` are refused. Enqueue is not idempotent and F&O deduplicates nothing, and no
 * API finds a message by its external identifier (the connector API offers enqueue, dequeue, ack
 * and jobstatus by message id; GetMessageStatus also needs the message id). So the app sends a file
 * at most once: a marker blob says "sending" before the request and holds the message id after it.
 * An answer lost (reset, timeout, dropped response) or a 5xx leaves it unknown whether F&O queued
 * the message: the result is `unknown` — never a second send — and the job says what to check.
 */
export async function enqueueFile(
  runtime: Runtime,
  input: RecurringImportInput & { instanceId: string },
  logger: Logger,
): Promise<EnqueueResult> {
  const results = runtime.containers.results;
  const marker = enqueuedMarkerPath(input.environment, input.activityId, input.instanceId);
  let known: EnqueueMarker | undefined;
  try {
    known = JSON.parse(
      (await results.getBlobClient(marker).downloadToBuffer()).toString('utf8'),
    ) as EnqueueMarker;
  } catch (error) {
    if (!isNotFound(error)) throw storageError(`reading ${results.containerName}/${marker}`, error);
  }
  if (known && 'messageId' in known) {
    logger.info(`File was enqueued before as message ${known.messageId}`);
    const entities = input.entity
      ? [input.entity]
      : await packageEntities(
          runtime.blobService.getContainerClient(input.container).getBlobClient(input.path),
          logger,
        );
    return { kind: 'enqueued', messageId: known.messageId, bytes: known.bytes, entities };
  }
  if (known) {
    // an earlier attempt sent the file and stopped before recording F&O's answer (a crash)
    return unconfirmed(
      input,
      known.bytes,
      known.sentAt,
      'an earlier attempt sent it and its answer was never recorded',
    );
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
  const entities = input.entity
    ? [input.entity]
    : await packageEntities(container.getBlobClient(input.path), logger);
  const sentAt = new Date().toISOString();
  await writeJsonBlob(results, marker, { sending: true, bytes, sentAt } satisfies EnqueueMarker);
  let messageId: string;
  try {
    messageId = await runtime
      .clients(input.environment)
      .recurring.enqueue(input.activityId, () => openBlobStream(container, input.path), {
        ...(input.entity ? { entity: input.entity } : {}),
        ...(input.company ? { company: input.company } : {}),
        externalIdentifier: input.fileName,
        timeoutMs: 300_000,
      });
  } catch (error) {
    // a 429 is refused before anything is queued: safe to send again later
    const throttled = throttledBy(error);
    if (throttled || certainlyNotQueued(error)) {
      // nothing was queued: the marker goes, so a later call of this activity may send again
      await results.deleteBlob(marker).catch(() => undefined);
    }
    if (throttled) return throttled;
    if (certainlyNotQueued(error)) {
      if (error instanceof DmfApiError && error.code === DmfErrorCode.AuthFailed) throw error;
      const refusal = error as DmfApiError;
      return {
        kind: 'refused',
        code: refusal.code,
        reason: `F&O refused the file: ${refusal.message}`,
        bytes,
      };
    }
    logger.warn(
      `Enqueue of ${input.path} got no usable answer: ${errorMessage(error)}; not sending it again`,
    );
    return unconfirmed(input, bytes, sentAt, `the request got no usable answer (${errorMessage(error)})`);
  }
  await writeJsonBlob(results, marker, {
    messageId,
    bytes,
    enqueuedAt: new Date().toISOString(),
  } satisfies EnqueueMarker);
  logger.info(`Enqueued ${input.path} (${bytes} bytes) as message ${messageId}`);
  return { kind: 'enqueued', messageId, bytes, entities };
}

/** The `unknown` result: what happened, and what a person checks in F&O before sending the file again. */
function unconfirmed(
  input: RecurringImportInput,
  bytes: number,
  sentAt: string,
  what: string,
): EnqueueResult {
  return {
    kind: 'unknown',
    code: 'ENQUEUE_UNCONFIRMED',
    bytes,
    sentAt,
    reason:
      `Unknown — check F&O: ${input.fileName} was sent to recurring data job ${input.activityId} at ${sentAt} and ${what}, ` +
      'so it is not known whether F&O queued a message (F&O deduplicates nothing, and no API finds a message by file name; ' +
      'the app never sends a file twice). In F&O, open Data management > Recurring data jobs, select the job and ' +
      `Manage messages, and look for a message with external identifier "${input.fileName}" from that time: if there is ` +
      'one, it is being (or was) imported; if not, drop the file again.',
  };
}

/** A message of an environment. */
const MessageRefSchema = z.object({ environment: z.string(), messageId: z.string() });

/**
 * GetMessageStatus (a word F&O sends that the documented list lacks is returned as sent); a 429 is
 * `throttled`, other transient trouble that outlived the retries `unavailable`, not a throw.
 */
export async function messageStatus(
  runtime: Runtime,
  input: z.infer<typeof MessageRefSchema>,
): Promise<{ kind: 'status'; status: string } | Throttled | { kind: 'unavailable'; message: string }> {
  try {
    return {
      kind: 'status',
      status: await runtime.clients(input.environment).recurring.getMessageStatus(input.messageId),
    };
  } catch (error) {
    const throttled = throttledBy(error);
    if (throttled) return throttled;
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

/** A recurring import job of an activity (jobstatus takes the activity id and the message id). */
const JobRefSchema = MessageRefSchema.extend({ activityId: z.string() });

/**
 * The job's DataJobState from the recurring `jobstatus` endpoint (undocumented, used by Microsoft's
 * samples and RIS), as the enum's word whether F&O sent the word or its number (a state the enum
 * lacks is kept as sent). Best effort: `{}` when F&O gives none or cannot be asked; never throws.
 */
export async function jobState(
  runtime: Runtime,
  input: z.infer<typeof JobRefSchema>,
  logger: Logger,
): Promise<{ dataJobState?: string }> {
  try {
    const status = await runtime
      .clients(input.environment)
      .recurring.jobStatus(input.activityId, input.messageId);
    return status.dataJobState !== undefined ? { dataJobState: status.dataJobState } : {};
  } catch (error) {
    logger.warn(`No jobstatus for message ${input.messageId}: ${errorMessage(error)}`);
    return {};
  }
}

/** Input of the finish activity: the result our orchestration built, and where the source is. */
const FinishInputSchema = z.object({
  result: ownValue<RecurringImportResult>('the recurring import result'),
  container: z.string(),
  path: z.string(),
});

/**
 * Archives the source, writes the result JSON and publishes the event of a recurring import; with a
 * durable client, starts the alerts its outcome calls for.
 */
export async function finishRecurringImport(
  runtime: Runtime,
  input: z.infer<typeof FinishInputSchema>,
  logger: Logger,
  client?: DurableClient,
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
      // as package imports: completed when rows were imported (Succeeded, PartiallySucceeded)
      final.status === 'Succeeded' || final.status === 'PartiallySucceeded'
        ? RECURRING_EVENT_TYPES.importCompleted
        : RECURRING_EVENT_TYPES.importFailed,
    source: RECURRING_EVENT_SOURCE,
    subject: input.path,
    time: new Date(),
    data: final,
  });
  await alertFinal(runtime, client, logger, 'recurringImport', final);
  logger.info(`Recurring import ${final.id} finished: ${final.status}; result in ${final.resultBlob}`);
  return final;
}

/**
 * Enqueues the file (see {@link enqueueFile}) unless the environment is paused (then it answers
 * `paused` and sends nothing); the job index then shows it Running (Polling).
 */
export const enqueueActivity = defineActivity({
  name: 'recurringEnqueue',
  input: RecurringImportInputSchema.extend({ instanceId: z.string() }),
  log: ({ instanceId }) => ({ instanceId }),
  durableClient: true,
  handler: async (input, { runtime, logger, context }): Promise<EnqueueResult | Paused> => {
    const paused = await pausedGate(df.getClient(context), input.environment);
    if (paused) {
      logger.info(`Environment ${input.environment} is paused (since ${paused.since}): not enqueued`);
      return paused;
    }
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

/** The job's DataJobState (see {@link jobState}). */
export const jobStateActivity = defineActivity({
  name: 'recurringJobState',
  input: JobRefSchema,
  handler: (input, { runtime, logger }) => jobState(runtime, input, logger),
});

/** Finishes a recurring import (see {@link finishRecurringImport}). */
export const finishActivity = defineActivity({
  name: 'recurringImportFinish',
  input: FinishInputSchema,
  log: ({ result }) => ({ instanceId: result.id }),
  durableClient: true,
  handler: (input, { runtime, logger, context }) =>
    finishRecurringImport(runtime, input, logger, df.getClient(context)),
});
