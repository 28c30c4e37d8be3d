/**
 * The recurring export drain's activities: dequeue (several in flight) → (file missing? record) →
 * download (DownloadLocation rewritten to the environment's origin by the client) → write into the
 * outbound container under a name keyed by CorrelationId, only if no blob has that name yet → ack
 * (its own activity, retried) → events (one batch per ack call). A message that reappears
 * (un-acked, visibility timeout) overwrites nothing and is simply acked.
 */
import * as df from 'durable-functions';
import type { ContainerClient } from '@azure/storage-blob';
import { z } from 'zod';
import { alertNotice } from '../../shared/alerts/index.js';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import type { DequeuedMessage } from '../../shared/dmf/index.js';
import { RECURRING_EVENT_SOURCE, RECURRING_EVENT_TYPES } from '../../shared/events/index.js';
import { DrainInputSchema, jobView, type DrainSummary } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { DEFAULT_DEQUEUE_CONCURRENCY } from '../../shared/config/index.js';
import {
  fileMissingBlobPath,
  isAlreadyExists,
  isNotFound,
  recordJob,
  recurringExportBlobPath,
  storageError,
  uploadStreamTo,
  writeJsonBlob,
} from '../../shared/storage/index.js';
import { createLimiter, errorMessage, mapLimited } from '../../shared/util.js';
import { startAlerts } from '../common/alerts.js';
import { publishEvent, publishEvents } from '../common/results.js';

/** HTTP attempts of one ack call; the activity retry (durable, backed off) does the rest. */
export const ACK_HTTP_ATTEMPTS = 1;
/**
 * Most files stored at once by {@link dequeueBatch}: as many as dequeues in flight (a store waits
 * on F&O's download as long as a dequeue does), at least 4, at most this. Memory ≤ this × one
 * upload's buffers ({@link STORE_BLOCK_SIZE} × {@link STORE_BLOCKS_IN_FLIGHT}, or one small file).
 */
export const STORE_CONCURRENCY = 8;
/** Block size of a stored file (a file up to this size is written in one request). */
export const STORE_BLOCK_SIZE = 4 * 1024 * 1024;
/** Blocks of one stored file in flight. */
export const STORE_BLOCKS_IN_FLIGHT = 2;
/** Most dequeues in flight at once (the configured `dequeueConcurrency` is capped here). */
export const MAX_DEQUEUE_CONCURRENCY = 16;
/** Acks sent at once by {@link ackBatch} (more when the drain has more dequeues in flight). */
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

/** Creates `container` when missing (a storage failure as `StorageError`). */
async function createContainer(container: ContainerClient): Promise<void> {
  try {
    await container.createIfNotExists();
  } catch (error) {
    throw storageError(`creating ${container.containerName}`, error);
  }
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
  options: {
    /** Makes sure the outbound container exists (default: create-if-missing, one request). */
    containerReady?: () => Promise<void>;
  } = {},
): Promise<StoredMessage> {
  const ref = toRef(message);
  const ready = options.containerReady ?? (() => createContainer(runtime.containers.outbound));
  try {
    return await storeFile(runtime, input, message, ref, logger, ready);
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
  containerReady: () => Promise<void>,
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
  const already = async (): Promise<StoredMessage> => {
    let bytes: number;
    try {
      bytes = (await outbound.getBlockBlobClient(path).getProperties()).contentLength ?? 0;
    } catch (error) {
      throw storageError(`reading ${outbound.containerName}/${path}`, error);
    }
    logger.info(`Message ${message.correlationId} was stored before (${path}): only acking it`);
    return { kind: 'alreadyStored', message: ref, container: outbound.containerName, path, bytes };
  };
  // Only a message F&O delivered before (LastDequeueDateTime set) can have been stored by us:
  // look first, so it is not downloaded again. A first delivery goes straight to a write that
  // succeeds only if no blob has the name yet (If-None-Match: *) — one request less per message.
  if (message.lastDequeueDateTime !== undefined) {
    try {
      return await already();
    } catch (error) {
      if (!isNotFound((error as { cause?: unknown }).cause)) throw error;
    }
  }
  await containerReady();
  const download = await recurring.download(message, { timeoutMs: 120_000 });
  try {
    // a block list is committed at the end: the blob exists only once complete
    const { bytes } = await uploadStreamTo(outbound, path, download.stream, {
      contentType: download.contentType ?? 'application/octet-stream',
      conditions: { ifNoneMatch: '*' },
      containerExists: true,
      blockSize: STORE_BLOCK_SIZE,
      concurrency: STORE_BLOCKS_IN_FLIGHT,
      ...(download.contentLength !== undefined ? { length: download.contentLength } : {}),
    });
    return { kind: 'stored', message: ref, container: outbound.containerName, path, bytes };
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    download.stream.destroy();
    return await already();
  }
}

/**
 * Dequeues up to `max` messages, `concurrency` dequeues in flight (F&O pops each message for one
 * caller; with more than one in flight, neighbours may be stored in another order than F&O's), and
 * stores their files as many at a time (up to {@link STORE_CONCURRENCY}) while the next ones are
 * dequeued. A crash
 * here loses nothing: messages not acked reappear after F&O's visibility timeout, and those already
 * stored are then only acked. Every store settles as an outcome ({@link storeMessage} never throws),
 * so no rejection waits unobserved. A message F&O offers again within the batch (its visibility
 * timeout ran out meanwhile) is stored once and reported with its newest PopReceipt (the one an ack
 * needs). A failing dequeue ends the batch with the messages already popped (thrown when none).
 */
export async function dequeueBatch(
  runtime: Runtime,
  input: Queue & { max: number; concurrency?: number },
  logger: Logger,
): Promise<{ items: StoredMessage[]; empty: boolean }> {
  const { recurring } = runtime.clients(input.environment);
  const concurrency = Math.max(
    1,
    Math.min(input.concurrency ?? DEFAULT_DEQUEUE_CONCURRENCY, MAX_DEQUEUE_CONCURRENCY, input.max),
  );
  // the outbound container is made sure of once per batch (not per message), when a file comes
  let created: Promise<void> | undefined;
  const containerReady = (): Promise<void> => {
    created ??= createContainer(runtime.containers.outbound).catch((error: unknown) => {
      created = undefined; // the next message tries again
      throw error;
    });
    return created;
  };
  const limit = createLimiter(Math.min(Math.max(concurrency, 4), STORE_CONCURRENCY));
  // by CorrelationId, in the order F&O's answers arrived
  const popped = new Map<string, { store: Promise<StoredMessage>; latest: DequeuedMessage }>();
  let claimed = 0;
  let empty = false;
  let dequeueError: Error | undefined;
  const worker = async (): Promise<void> => {
    while (!empty && dequeueError === undefined && claimed < input.max) {
      claimed++;
      let message: DequeuedMessage | undefined;
      try {
        message = await recurring.dequeue(input.activityId);
      } catch (error) {
        dequeueError ??= error instanceof Error ? error : new Error(String(error));
        return;
      }
      if (!message) {
        empty = true;
        return;
      }
      const key = message.correlationId.toLowerCase();
      const seen = popped.get(key);
      if (seen) {
        seen.latest = message;
        continue;
      }
      const dequeued = message;
      popped.set(key, {
        store: limit(() => storeMessage(runtime, input, dequeued, logger, { containerReady })),
        latest: dequeued,
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const items = await Promise.all(
    [...popped.values()].map(async ({ store, latest }) => ({ ...(await store), message: toRef(latest) })),
  );
  if (dequeueError !== undefined) {
    if (items.length === 0) throw dequeueError;
    // the messages popped so far are reported (to be acked); the next batch dequeues again
    logger.warn(`Dequeue failed after ${items.length} message(s): ${errorMessage(dequeueError)}`);
  }
  return { items, empty };
}

/** Acks a message (the dequeue answer as body); the caller publishes its event. */
async function ackOne(runtime: Runtime, input: AckInput): Promise<void> {
  const { recurring } = runtime.clients(input.environment);
  const message = { raw: input.message.raw, correlationId: input.message.correlationId } as DequeuedMessage;
  await recurring.ack(input.activityId, message, { retry: { maxAttempts: ACK_HTTP_ATTEMPTS } });
}

/** The `…recurring.export.received` event of an acked, stored message. */
function receivedEvent(input: AckInput & { stored: NonNullable<AckInput['stored']> }) {
  return {
    id: `rex-${input.message.correlationId}`,
    type: RECURRING_EVENT_TYPES.exportReceived,
    source: RECURRING_EVENT_SOURCE,
    subject: `${input.environment}/${input.activityId}`,
    time: new Date(),
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
  };
}

/**
 * Acks messages {@link ACK_CONCURRENCY} (or `concurrency`) at a time, then publishes `…recurring.export.received` for
 * the stored ones that were acked, in one batch (in the order given). Returns the messages whose ack
 * failed, and those whose event could not be sent (acking again answers 200, and the event's
 * MessageId makes a resend a duplicate that Service Bus drops). Never throws.
 */
export async function ackBatch(
  runtime: Runtime,
  input: Queue & { items: AckInput[]; concurrency?: number },
  logger: Logger,
): Promise<{ failed: string[] }> {
  const limit = Math.min(Math.max(input.concurrency ?? 0, ACK_CONCURRENCY), MAX_DEQUEUE_CONCURRENCY);
  const acked = await mapLimited(input.items, limit, async (item) => {
    try {
      await ackOne(runtime, item);
      logger.info(`Acked message ${item.message.correlationId}`);
      return true;
    } catch (error) {
      logger.warn(`Ack of ${item.message.correlationId} failed: ${errorMessage(error)}`);
      return false;
    }
  });
  const failed = input.items.filter((_, i) => !acked[i]).map((item) => item.message.correlationId);
  const withEvents = input.items.filter(
    (item, i): item is AckInput & { stored: NonNullable<AckInput['stored']> } =>
      acked[i] === true && item.stored !== undefined,
  );
  try {
    await publishEvents(runtime, withEvents.map(receivedEvent));
  } catch (error) {
    logger.warn(`Events of ${withEvents.length} acked message(s) not sent: ${errorMessage(error)}`);
    failed.push(...withEvents.map((item) => item.message.correlationId));
  }
  return { failed };
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
  input: QueueSchema.extend({
    max: z.number().int().min(1),
    /** Dequeues in flight; absent (older instances): the default. */
    concurrency: z.number().int().min(1).max(MAX_DEQUEUE_CONCURRENCY).optional(),
  }),
  log: (input) => input,
  handler: (input, { runtime, logger }) => dequeueBatch(runtime, input, logger),
});

/** Acks a batch (see {@link ackBatch}). */
export const ackBatchActivity = defineActivity({
  name: 'recurringAckBatch',
  input: QueueSchema.extend({
    items: z.array(AckInputSchema),
    /** The drain's dequeues in flight: acks go out as many at once (at least {@link ACK_CONCURRENCY}). */
    concurrency: z.number().int().min(1).max(MAX_DEQUEUE_CONCURRENCY).optional(),
  }),
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
 * Lists a drain run that handled messages in the job index, as a job of its own (its id names the
 * run: `{drain id}-r{occurrence}`): while it continues as new (Running, its counters so far) and
 * when it ends (its summary, and the alerts its outcome calls for). Runs that found the queue empty
 * are not listed, so they never hide a run that did work. Never fails (see `recordJob`).
 */
export const recordRunActivity = defineActivity({
  name: 'recurringRecordRun',
  input: RecordRunInputSchema,
  log: ({ instanceId }) => ({ instanceId }),
  durableClient: true,
  handler: async ({ instanceId, run, summary }, { runtime, logger, context }): Promise<void> => {
    const status = {
      instanceId,
      runtimeStatus: summary ? 'Completed' : 'Running',
      input: run,
      ...(summary ? { output: summary } : { customStatus: run.counters }),
      createdTime: run.scheduledFor,
      lastUpdatedTime: new Date(),
    };
    await recordJob(runtime.jobIndex, logger, 'recurringExport', status);
    if (summary) {
      const job = jobView('recurringExport', status);
      await startAlerts(runtime, df.getClient(context), alertNotice(job, { at: summary.finishedAt }), logger);
    }
  },
});
