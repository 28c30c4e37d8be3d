/**
 * The recurring export drain's activities: dequeue → (file missing? record) → already stored? →
 * download (DownloadLocation rewritten to the environment's origin by the client) → stream into the
 * outbound container under a name keyed by CorrelationId → ack (its own activity, retried) → event.
 * A message that reappears (un-acked, visibility timeout) overwrites nothing and is simply acked.
 */
import { z } from 'zod';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import type { DequeuedMessage } from '../../shared/dmf/index.js';
import { RECURRING_EVENT_SOURCE, RECURRING_EVENT_TYPES } from '../../shared/events/index.js';
import { DrainInputSchema, type DrainSummary } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  fileMissingBlobPath,
  isNotFound,
  recordJob,
  recurringExportBlobPath,
  storageError,
  uploadStreamTo,
  writeJsonBlob,
} from '../../shared/storage/index.js';
import { errorMessage, mapLimited } from '../../shared/util.js';
import { publishEvent } from '../common/results.js';

/** HTTP attempts of one ack call; the activity retry (durable, backed off) does the rest. */
export const ACK_HTTP_ATTEMPTS = 1;
/** Files stored at once by {@link dequeueBatch} (memory ≤ this × the upload's block buffers). */
export const STORE_CONCURRENCY = 4;
/** Acks sent at once by {@link ackBatch}. */
export const ACK_CONCURRENCY = 8;

/** A recurring export queue: the environment and the recurring data job's activity id. */
export const QueueSchema = z.object({ environment: z.string(), activityId: z.string() });
/** See {@link QueueSchema}. */
export type Queue = z.infer<typeof QueueSchema>;

/** The ack body (the dequeue answer as received) and what the activities need to know of a message. */
export const DequeuedRefSchema = z.object({
  correlationId: z.string(),
  lastDequeueDateTime: z.string().optional(),
  /** The dequeue answer exactly as received (sent back as the ack body; holds no secret). */
  raw: z.record(z.string(), z.unknown()),
});
/** See {@link DequeuedRefSchema}. */
export type DequeuedRef = z.infer<typeof DequeuedRefSchema>;

/** What became of one dequeued message (never acked here). */
export type StoredMessage =
  | { kind: 'stored' | 'alreadyStored'; message: DequeuedRef; container: string; path: string; bytes: number }
  | { kind: 'missing'; message: DequeuedRef; fileDownloadErrorMessage: string }
  | { kind: 'failed'; message: DequeuedRef; error: string };

/** Input of the ack activity, per message. */
export const AckInputSchema = QueueSchema.extend({
  message: DequeuedRefSchema,
  /** Event to publish once acked (none for an acked missing file: its event was already sent). */
  stored: z
    .object({ container: z.string(), path: z.string(), bytes: z.number(), redelivered: z.boolean() })
    .optional(),
});
/** See {@link AckInputSchema}. */
export type AckInput = z.infer<typeof AckInputSchema>;

/** Publishes an event about a message of `queue` (subject `{environment}/{activityId}`, time now). */
function publishQueueEvent(
  runtime: Runtime,
  queue: Queue,
  event: { id: string; type: string; data: unknown },
): Promise<void> {
  return publishEvent(runtime, {
    ...event,
    source: RECURRING_EVENT_SOURCE,
    subject: `${queue.environment}/${queue.activityId}`,
    time: new Date(),
  });
}

function toRef(message: DequeuedMessage): DequeuedRef {
  return {
    correlationId: message.correlationId,
    ...(message.lastDequeueDateTime ? { lastDequeueDateTime: message.lastDequeueDateTime } : {}),
    raw: message.raw,
  };
}

/**
 * Stores the file of a dequeued message (or says it is missing / already stored). Never acks, and
 * never throws: any failure (F&O's download, storage) is the message's `failed` outcome, so it is
 * left un-acked and F&O offers it again after its visibility timeout.
 */
export async function storeMessage(
  runtime: Runtime,
  input: Queue,
  message: DequeuedMessage,
  logger: Logger,
): Promise<StoredMessage> {
  const ref = toRef(message);
  try {
    return await storeFile(runtime, input, message, ref, logger);
  } catch (error) {
    // not acked: F&O offers the message again after its visibility timeout
    logger.warn(`Message ${message.correlationId}: download or store failed: ${errorMessage(error)}`);
    return { kind: 'failed', message: ref, error: errorMessage(error) };
  }
}

async function storeFile(
  runtime: Runtime,
  input: Queue,
  message: DequeuedMessage,
  ref: DequeuedRef,
  logger: Logger,
): Promise<StoredMessage> {
  if (!message.isDownloadFileExist) {
    const text =
      message.fileDownloadErrorMessage ??
      'F&O reported that the file does not exist (IsDownLoadFileExist false).';
    logger.warn(`Message ${message.correlationId}: no file: ${text}`);
    return { kind: 'missing', message: ref, fileDownloadErrorMessage: text };
  }
  const { recurring } = runtime.clients(input.environment);
  const { outbound } = runtime.containers;
  const path = recurringExportBlobPath(input.environment, input.activityId, message.correlationId);
  const blob = outbound.getBlockBlobClient(path);
  try {
    const props = await blob.getProperties();
    logger.info(`Message ${message.correlationId} was stored before (${path}): only acking it`);
    return {
      kind: 'alreadyStored',
      message: ref,
      container: outbound.containerName,
      path,
      bytes: props.contentLength ?? 0,
    };
  } catch (error) {
    if (!isNotFound(error)) throw storageError(`reading ${outbound.containerName}/${path}`, error);
  }
  const download = await recurring.download(message, { timeoutMs: 120_000 });
  // uploadStream commits the block list at the end: the blob exists only once complete
  const { bytes } = await uploadStreamTo(outbound, path, download.stream, {
    contentType: download.contentType ?? 'application/octet-stream',
  });
  return { kind: 'stored', message: ref, container: outbound.containerName, path, bytes };
}

/**
 * Dequeues up to `max` messages (one after the other: dequeue is a queue pop) and stores their files
 * {@link STORE_CONCURRENCY} at a time. A crash here loses nothing: messages not acked reappear after
 * F&O's visibility timeout, and those already stored are then only acked. Every store settles as an
 * outcome ({@link storeMessage} never throws), so no rejection waits unobserved while the loop
 * dequeues; a failing dequeue ends the batch with the messages already popped.
 */
export async function dequeueBatch(
  runtime: Runtime,
  input: Queue & { max: number },
  logger: Logger,
): Promise<{ items: StoredMessage[]; empty: boolean }> {
  const { recurring } = runtime.clients(input.environment);
  const stores: Promise<StoredMessage>[] = [];
  let running = 0;
  const waiters: (() => void)[] = [];
  const limited = async (message: DequeuedMessage): Promise<StoredMessage> => {
    while (running >= STORE_CONCURRENCY) await new Promise<void>((r) => waiters.push(r));
    running++;
    try {
      return await storeMessage(runtime, input, message, logger);
    } finally {
      running--;
      waiters.shift()?.();
    }
  };
  let empty = false;
  let dequeueError: Error | undefined;
  while (stores.length < input.max) {
    let message: DequeuedMessage | undefined;
    try {
      message = await recurring.dequeue(input.activityId);
    } catch (error) {
      dequeueError = error instanceof Error ? error : new Error(String(error));
      break;
    }
    if (!message) {
      empty = true;
      break;
    }
    stores.push(limited(message));
  }
  const items = await Promise.all(stores);
  if (dequeueError !== undefined && items.length === 0) throw dequeueError;
  if (dequeueError !== undefined) {
    // the messages popped so far are reported (to be acked); the next run dequeues again
    logger.warn(`Dequeue failed after ${items.length} message(s): ${errorMessage(dequeueError)}`);
  }
  return { items, empty };
}

/** Acks a message (the dequeue answer as body) and publishes `…recurring.export.received` once stored. */
export async function ackMessage(runtime: Runtime, input: AckInput, logger: Logger): Promise<void> {
  const { recurring } = runtime.clients(input.environment);
  const message = { raw: input.message.raw, correlationId: input.message.correlationId } as DequeuedMessage;
  await recurring.ack(input.activityId, message, { retry: { maxAttempts: ACK_HTTP_ATTEMPTS } });
  if (input.stored) {
    await publishQueueEvent(runtime, input, {
      id: `rex-${input.message.correlationId}`,
      type: RECURRING_EVENT_TYPES.exportReceived,
      data: {
        environment: input.environment,
        activityId: input.activityId,
        correlationId: input.message.correlationId,
        container: input.stored.container,
        path: input.stored.path,
        bytes: input.stored.bytes,
        redelivered: input.stored.redelivered,
        lastDequeueDateTime: input.message.lastDequeueDateTime,
      },
    });
  }
  logger.info(`Acked message ${input.message.correlationId}`);
}

/** Acks messages {@link ACK_CONCURRENCY} at a time (each as {@link ackMessage}); returns the ones that failed. */
export async function ackBatch(
  runtime: Runtime,
  input: Queue & { items: AckInput[] },
  logger: Logger,
): Promise<{ failed: string[] }> {
  const results = await mapLimited(input.items, ACK_CONCURRENCY, async (item) => {
    try {
      await ackMessage(runtime, item, logger);
      return undefined;
    } catch (error) {
      logger.warn(`Ack of ${item.message.correlationId} failed: ${errorMessage(error)}`);
      return item.message.correlationId;
    }
  });
  return { failed: results.filter((id): id is string => id !== undefined) };
}

/** Records a message without file (results container) and publishes `…recurring.export.fileMissing`. */
export async function recordFileMissing(
  runtime: Runtime,
  input: Queue & { message: DequeuedRef; fileDownloadErrorMessage: string; acked: boolean },
): Promise<string> {
  const path = fileMissingBlobPath(input.environment, input.activityId, input.message.correlationId);
  const record = {
    environment: input.environment,
    activityId: input.activityId,
    correlationId: input.message.correlationId,
    fileDownloadErrorMessage: input.fileDownloadErrorMessage,
    lastDequeueDateTime: input.message.lastDequeueDateTime,
    acked: input.acked,
    recordedAt: new Date().toISOString(),
  };
  await writeJsonBlob(runtime.containers.results, path, record);
  const where = `${runtime.containers.results.containerName}/${path}`;
  await publishQueueEvent(runtime, input, {
    id: `rexm-${input.message.correlationId}`,
    type: RECURRING_EVENT_TYPES.exportFileMissing,
    data: { ...record, recordBlob: where },
  });
  return where;
}

/** Dequeues and stores a batch (see {@link dequeueBatch}). */
export const dequeueBatchActivity = defineActivity({
  name: 'recurringDequeueBatch',
  input: QueueSchema.extend({ max: z.number().int().min(1) }),
  log: (input) => input,
  handler: (input, { runtime, logger }) => dequeueBatch(runtime, input, logger),
});

/** Acks a batch (see {@link ackBatch}). */
export const ackBatchActivity = defineActivity({
  name: 'recurringAckBatch',
  input: QueueSchema.extend({ items: z.array(AckInputSchema) }),
  log: ({ activityId }) => ({ activityId }),
  handler: (input, { runtime, logger }) => ackBatch(runtime, input, logger),
});

/** Records a message without file (see {@link recordFileMissing}). */
export const fileMissingActivity = defineActivity({
  name: 'recurringFileMissing',
  input: QueueSchema.extend({
    message: DequeuedRefSchema,
    fileDownloadErrorMessage: z.string(),
    acked: z.boolean(),
  }),
  handler: (input, { runtime }) => recordFileMissing(runtime, input),
});

/** Input of {@link recordRunActivity}: the run's input and its counters so far (or its summary). */
export const RecordRunInputSchema = z.object({
  instanceId: z.string(),
  run: DrainInputSchema,
  /** The summary of a finished run; absent while it continues (as new). */
  summary: ownValue<DrainSummary>('the drain summary').optional(),
});

/**
 * Lists a drain run that handled messages in the job index: while it continues as new (Running,
 * its counters so far) and when it ends (its summary). Runs that found the queue empty are not
 * listed. Never fails (see `recordJob`).
 */
export const recordRunActivity = defineActivity({
  name: 'recurringRecordRun',
  input: RecordRunInputSchema,
  log: ({ instanceId }) => ({ instanceId }),
  handler: async ({ instanceId, run, summary }, { runtime, logger }): Promise<void> => {
    await recordJob(runtime.jobIndex, logger, 'recurringExport', {
      instanceId,
      runtimeStatus: summary ? 'Completed' : 'Running',
      input: run,
      ...(summary ? { output: summary } : { customStatus: run.counters }),
      createdTime: run.scheduledFor,
      lastUpdatedTime: new Date(),
    });
  },
});
