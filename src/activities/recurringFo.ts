/**
 * The F&O and storage side of recurring integrations.
 *
 * Export drain: dequeue → (file missing? record) → already stored? → download (DownloadLocation
 * rewritten to the environment's origin by the client) → stream into the outbound container under
 * a name keyed by CorrelationId → ack (its own activity, retried) → event. A message that reappears
 * (un-acked, visibility timeout) overwrites nothing and is simply acked.
 *
 * Import: enqueue the dropped blob (streamed), message status, execution id, finish (result JSON,
 * archive, event) — the error files come from the import's error collection activity.
 */
import { createCloudEvent, publishCloudEvent } from '../shared/events/index.js';
import { DmfApiError, type DequeuedMessage } from '../shared/dmf/index.js';
import type { Logger } from '../shared/log/index.js';
import {
  archiveBlobPath,
  isNotFound,
  moveBlob,
  openBlobStream,
  resultBlobPath,
  storageError,
  uploadStreamTo,
  writeJsonBlob,
} from '../shared/storage/index.js';
import type {
  AckInput,
  DequeueInput,
  DequeueResult,
  DequeuedRef,
  EnqueueResult,
  RecurringImportInput,
  RecurringImportResult,
} from '../orchestrators/recurringInput.js';
import { outboundContainer } from './exportFo.js';
import { EXPORT_EVENT_TYPES, RECURRING_EVENT_SOURCE } from './exportNames.js';
import type { Runtime } from './runtime.js';

/** HTTP attempts of one ack call; the activity retry (durable, backed off) does the rest. */
export const ACK_HTTP_ATTEMPTS = 1;

/** Blob path (outbound container) of a recurring export message's file: keyed by CorrelationId. */
export function recurringExportBlobPath(
  environment: string,
  activityId: string,
  correlationId: string,
): string {
  return `${environment}/recurring/${activityId}/${correlationId.toLowerCase().replace(/[^a-z0-9-]/g, '_')}`;
}

/** Blob path (results container) of the record of a message whose file F&O did not have. */
export function fileMissingBlobPath(environment: string, activityId: string, correlationId: string): string {
  return `recurring/${environment}/${activityId}/file-missing/${correlationId.toLowerCase().replace(/[^a-z0-9-]/g, '_')}.json`;
}

const errorText = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? 'unknown error';

/** Publishes a recurring event (MessageId = event id, on the worker's kept sender). */
async function publish(
  runtime: Runtime,
  event: { id: string; type: string; subject: string; data: unknown },
): Promise<void> {
  const { config } = runtime;
  const body = { ...createCloudEvent({ ...event, time: new Date() }), source: RECURRING_EVENT_SOURCE };
  await publishCloudEvent(config.serviceBus.connection, config.serviceBus.eventsTopic, body);
}

function toRef(message: DequeuedMessage): DequeuedRef {
  return {
    correlationId: message.correlationId,
    ...(message.lastDequeueDateTime ? { lastDequeueDateTime: message.lastDequeueDateTime } : {}),
    raw: message.raw,
  };
}

/** Dequeues one message and stores its file (see the module comment). Never acks. */
export async function dequeueAndStore(
  runtime: Runtime,
  input: DequeueInput,
  logger: Logger,
): Promise<DequeueResult> {
  const message = await runtime.clients(input.environment).recurring.dequeue(input.activityId);
  if (!message) return { kind: 'empty' };
  return storeMessage(runtime, input, message, logger);
}

/** Stores the file of a dequeued message (or says it is missing / already stored). Never acks. */
export async function storeMessage(
  runtime: Runtime,
  input: DequeueInput,
  message: DequeuedMessage,
  logger: Logger,
): Promise<Exclude<DequeueResult, { kind: 'empty' }>> {
  const { recurring } = runtime.clients(input.environment);
  const ref = toRef(message);
  if (!message.isDownloadFileExist) {
    const text =
      message.fileDownloadErrorMessage ??
      'F&O reported that the file does not exist (IsDownLoadFileExist false).';
    logger.warn(`Message ${message.correlationId}: no file: ${text}`);
    return { kind: 'missing', message: ref, fileDownloadErrorMessage: text };
  }
  const outbound = outboundContainer(runtime);
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
  try {
    const download = await recurring.download(message, { timeoutMs: 120_000 });
    // uploadStream commits the block list at the end: the blob exists only once complete
    const { bytes } = await uploadStreamTo(outbound, path, download.stream, {
      contentType: download.contentType ?? 'application/octet-stream',
    });
    return { kind: 'stored', message: ref, container: outbound.containerName, path, bytes };
  } catch (error) {
    // not acked: F&O offers the message again after its visibility timeout
    logger.warn(`Message ${message.correlationId}: download or store failed: ${errorText(error)}`);
    return { kind: 'failed', message: ref, error: errorText(error) };
  }
}

/** Files stored at once by {@link dequeueBatch} (memory ≤ this × the upload's block buffers). */
export const STORE_CONCURRENCY = 4;
/** Acks sent at once by {@link ackBatch}. */
export const ACK_CONCURRENCY = 8;

async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Dequeues up to `max` messages (one after the other: dequeue is a queue pop) and stores their files
 * {@link STORE_CONCURRENCY} at a time. A crash here loses nothing: messages not acked reappear after
 * F&O's visibility timeout, and those already stored are then only acked.
 */
export async function dequeueBatch(
  runtime: Runtime,
  input: DequeueInput & { max: number },
  logger: Logger,
): Promise<{ items: Exclude<DequeueResult, { kind: 'empty' }>[]; empty: boolean }> {
  const { recurring } = runtime.clients(input.environment);
  const stores: Promise<Exclude<DequeueResult, { kind: 'empty' }>>[] = [];
  let running = 0;
  const waiters: (() => void)[] = [];
  const limited = async (message: DequeuedMessage): Promise<Exclude<DequeueResult, { kind: 'empty' }>> => {
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
  try {
    while (stores.length < input.max) {
      const message = await recurring.dequeue(input.activityId);
      if (!message) {
        empty = true;
        break;
      }
      stores.push(limited(message));
    }
  } finally {
    // whatever happens to the next dequeue, the messages already popped are stored and reported
    await Promise.allSettled(stores);
  }
  return { items: await Promise.all(stores), empty };
}

/** Acks messages {@link ACK_CONCURRENCY} at a time (each as {@link ackMessage}); returns the ones that failed. */
export async function ackBatch(
  runtime: Runtime,
  input: { environment: string; activityId: string; items: AckInput[] },
  logger: Logger,
): Promise<{ failed: string[] }> {
  const results = await mapLimited(input.items, ACK_CONCURRENCY, async (item) => {
    try {
      await ackMessage(runtime, item, logger);
      return undefined;
    } catch (error) {
      logger.warn(`Ack of ${item.message.correlationId} failed: ${errorText(error)}`);
      return item.message.correlationId;
    }
  });
  return { failed: results.filter((id): id is string => id !== undefined) };
}

/** Acks a message (the dequeue answer as body) and publishes `…recurring.export.received` once stored. */
export async function ackMessage(runtime: Runtime, input: AckInput, logger: Logger): Promise<void> {
  const { recurring } = runtime.clients(input.environment);
  const message = { raw: input.message.raw, correlationId: input.message.correlationId } as DequeuedMessage;
  await recurring.ack(input.activityId, message, { retry: { maxAttempts: ACK_HTTP_ATTEMPTS } });
  if (input.stored) {
    await publish(runtime, {
      id: `rex-${input.message.correlationId}`,
      type: EXPORT_EVENT_TYPES.recurringReceived,
      subject: `${input.environment}/${input.activityId}`,
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

/** Records a message without file (results container) and publishes `…recurring.export.fileMissing`. */
export async function recordFileMissing(
  runtime: Runtime,
  input: {
    environment: string;
    activityId: string;
    message: DequeuedRef;
    fileDownloadErrorMessage: string;
    acked: boolean;
  },
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
  await publish(runtime, {
    id: `rexm-${input.message.correlationId}`,
    type: EXPORT_EVENT_TYPES.recurringFileMissing,
    subject: `${input.environment}/${input.activityId}`,
    data: { ...record, recordBlob: where },
  });
  return where;
}

/** The recurring-inbound container. */
export function recurringInboundContainer(
  runtime: Runtime,
): ReturnType<Runtime['blobService']['getContainerClient']> {
  return runtime.blobService.getContainerClient(runtime.config.storage.containers.recurringInbound);
}

function markerPath(input: { environment: string; activityId: string }, instanceId: string): string {
  return `recurring/${input.environment}/${input.activityId}/enqueued/${instanceId}.json`;
}

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
  const marker = markerPath(input, input.instanceId);
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

/** GetMessageStatus; transient trouble that outlived the retries is `unavailable`, not a throw. */
export async function messageStatus(
  runtime: Runtime,
  input: { environment: string; messageId: string },
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

/** GetExecutionIdByMessageId; undefined while the message is still queued. */
export async function executionIdOf(
  runtime: Runtime,
  input: { environment: string; messageId: string },
): Promise<string | null> {
  return (
    (await runtime.clients(input.environment).recurring.getExecutionIdByMessageId(input.messageId)) ?? null
  );
}

/** Archives the source, writes the result JSON and publishes the event of a recurring import. */
export async function finishRecurringImport(
  runtime: Runtime,
  result: RecurringImportResult,
  input: { container: string; path: string },
  logger: Logger,
): Promise<RecurringImportResult> {
  const { containers } = runtime;
  const final: RecurringImportResult = { ...result };
  if (final.status !== 'Rejected') {
    const to = {
      container: containers.archive,
      path: archiveBlobPath(
        final.status === 'Succeeded' ? 'succeeded' : 'failed',
        `recurring/${input.path}`,
        final.id,
      ),
    };
    try {
      await moveBlob(
        { container: runtime.blobService.getContainerClient(input.container), path: input.path },
        to,
      );
      final.archivedTo = `${to.container.containerName}/${to.path}`;
    } catch (error) {
      const notFound =
        isNotFound(error) || (error instanceof Error && 'cause' in error && isNotFound(error.cause));
      if (!notFound) throw error;
      if (await to.container.getBlobClient(to.path).exists())
        final.archivedTo = `${to.container.containerName}/${to.path}`;
      else logger.warn(`Source ${input.container}/${input.path} is gone; nothing to archive`);
    }
  }
  const path = resultBlobPath(`recurring/${input.path}`, final.id);
  final.resultBlob = `${containers.results.containerName}/${path}`;
  await writeJsonBlob(containers.results, path, final);
  await publish(runtime, {
    id: final.id,
    type:
      final.status === 'Succeeded'
        ? EXPORT_EVENT_TYPES.recurringImportCompleted
        : EXPORT_EVENT_TYPES.recurringImportFailed,
    subject: input.path,
    data: final,
  });
  logger.info(`Recurring import ${final.id} finished: ${final.status}; result in ${final.resultBlob}`);
  return final;
}
