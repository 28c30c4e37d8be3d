/**
 * How every kind of job ends: its source moved into the archive, its result JSON written to the
 * results container, the job listed as final in the job index, its CloudEvent published. Each step is idempotent, so an activity retry is
 * harmless.
 */
import type { DurableClient } from 'durable-functions';
import { alertNotice } from '../../shared/alerts/index.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { createCloudEvent, publishCloudEvent, publishCloudEvents } from '../../shared/events/index.js';
import { jobView, type BlobRef, type JobKind } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  batchArchiveBlobPath,
  batchArchiveFolder,
  blobExists,
  isNotFound,
  moveBlob,
  recordJob,
  resultBlobPath,
  writeJsonBlob,
} from '../../shared/storage/index.js';
import { startAlerts } from './alerts.js';

/**
 * Moves a job's source to `path` in the archive container. A source already moved (by an earlier
 * attempt of this activity) or deleted by someone else is no failure.
 * @returns `container/path` of the archived copy; undefined when the source is gone and no copy exists.
 */
export async function archiveSource(
  runtime: Runtime,
  source: BlobRef,
  path: string,
  logger: Logger,
): Promise<string | undefined> {
  const to = { container: runtime.containers.archive, path };
  const where = `${to.container.containerName}/${to.path}`;
  try {
    await moveBlob(
      { container: runtime.blobService.getContainerClient(source.container), path: source.path },
      to,
    );
    return where;
  } catch (error) {
    const notFound =
      isNotFound(error) || (error instanceof Error && 'cause' in error && isNotFound(error.cause));
    if (!notFound) throw error;
    if (await blobExists(to.container, to.path)) return where;
    logger.warn(`Source ${source.container}/${source.path} is gone; nothing to archive`);
    return undefined;
  }
}

/**
 * Moves a batch's files side by side to `{outcome}/{folder}/{jobId}/{file}` in the archive container
 * (see {@link archiveSource}: a file already moved is no failure).
 * @returns `container/folder` of the archived batch; undefined when none of its files was there.
 */
export async function archiveBatchFiles(
  runtime: Runtime,
  files: readonly BlobRef[],
  to: { outcome: 'succeeded' | 'failed'; folder: string; jobId: string },
  logger: Logger,
): Promise<string | undefined> {
  let archived = 0;
  for (const blob of files) {
    const name = blob.path.slice(blob.path.lastIndexOf('/') + 1);
    const path = batchArchiveBlobPath(to.outcome, to.folder, to.jobId, name);
    if (await archiveSource(runtime, blob, path, logger)) archived++;
  }
  return archived > 0
    ? `${runtime.containers.archive.containerName}/${batchArchiveFolder(to.outcome, to.folder, to.jobId)}`
    : undefined;
}

/** Writes a job's result JSON under its logical path (results container); returns it with `resultBlob`. */
export async function storeResult<T extends { id: string; resultBlob?: string }>(
  runtime: Runtime,
  logicalPath: string,
  result: T,
): Promise<T> {
  const { results } = runtime.containers;
  const path = resultBlobPath(logicalPath, result.id);
  const stored: T = { ...result, resultBlob: `${results.containerName}/${path}` };
  await writeJsonBlob(results, path, stored);
  return stored;
}

/**
 * Lists a finished job in the job index from its result (the orchestration's output), as the job
 * API derives it from a completed orchestration. Never throws: the result JSON is written first,
 * and `dmf admin reindex` lists it from there.
 */
export async function recordFinal(
  runtime: Runtime,
  logger: Logger,
  kind: JobKind,
  result: { id: string; timings: { requestedAt: string } },
): Promise<void> {
  await recordJob(runtime.jobIndex, logger, kind, {
    instanceId: result.id,
    runtimeStatus: 'Completed',
    output: result,
    createdTime: result.timings.requestedAt,
    lastUpdatedTime: new Date(),
  });
}

/**
 * Starts the alerts a finished job's outcome calls for (see `startAlerts`): its job JSON as the job
 * API derives it from the result, where its source is archived. Never throws; without a durable
 * client (a caller outside an activity) nothing is sent.
 */
export async function alertFinal(
  runtime: Pick<Runtime, 'config'>,
  client: DurableClient | undefined,
  logger: Logger,
  kind: JobKind,
  result: { id: string; timings: { finishedAt: string }; archivedTo?: string },
): Promise<void> {
  const job = jobView(kind, { instanceId: result.id, runtimeStatus: 'Completed', output: result });
  const notice = alertNotice(job, {
    at: result.timings.finishedAt,
    ...(result.archivedTo ? { source: result.archivedTo } : {}),
  });
  await startAlerts(runtime, client, notice, logger);
}

/**
 * Publishes a job's outcome: `types.completed` when it Succeeded or PartiallySucceeded, else
 * `types.failed`; the event time is when the job finished, the data its result.
 */
export async function publishOutcome(
  runtime: Runtime,
  result: { id: string; status: string; correlationId?: string; timings: { finishedAt: string } },
  event: { types: { completed: string; failed: string }; source?: string; subject: string },
): Promise<void> {
  const ok = result.status === 'Succeeded' || result.status === 'PartiallySucceeded';
  await publishEvent(
    runtime,
    {
      id: result.id,
      type: ok ? event.types.completed : event.types.failed,
      ...(event.source ? { source: event.source } : {}),
      subject: event.subject,
      time: result.timings.finishedAt,
      data: result,
    },
    result.correlationId ? { correlationId: result.correlationId } : {},
  );
}

/**
 * Publishes a CloudEvent on the events topic (MessageId = the event id, so a resend after an
 * activity retry is dropped by duplicate detection).
 */
export async function publishEvent(
  runtime: Runtime,
  event: { id: string; type: string; source?: string; subject: string; time: Date | string; data: unknown },
  options: { correlationId?: string } = {},
): Promise<void> {
  const { connection, eventsTopic } = runtime.config.serviceBus;
  await publishCloudEvent(
    connection,
    eventsTopic,
    createCloudEvent(event),
    options.correlationId ? { correlationId: options.correlationId } : {},
  );
}

/** Publishes CloudEvents on the events topic in batches (see `publishCloudEvents`); order kept. */
export async function publishEvents(
  runtime: Runtime,
  events: readonly {
    id: string;
    type: string;
    source?: string;
    subject: string;
    time: Date | string;
    data: unknown;
  }[],
): Promise<void> {
  const { connection, eventsTopic } = runtime.config.serviceBus;
  await publishCloudEvents(
    connection,
    eventsTopic,
    events.map((event) => ({ event: createCloudEvent(event) })),
  );
}
