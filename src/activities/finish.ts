/**
 * Finish stage: archive the source (copy, verify, delete), drop staging blobs, write the result
 * JSON, publish the CloudEvent. Every step is idempotent, so an activity retry is harmless.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { createCloudEvent, IMPORT_EVENT_TYPES, publishCloudEvent } from '../shared/events/index.js';
import type { ImportResult } from '../shared/jobs/index.js';
import type { Logger } from '../shared/log/index.js';
import {
  archiveBlobPath,
  isNotFound,
  moveBlob,
  resultBlobPath,
  storageError,
  writeJsonBlob,
} from '../shared/storage/index.js';
import type { BlobRef } from '../orchestrators/input.js';
import type { Runtime } from './runtime.js';

/** Input of the finish activity. */
export interface FinishInput {
  result: ImportResult;
  logicalPath: string;
  sourceBlob?: BlobRef;
  stagingBlobs: BlobRef[];
}

async function exists(container: ContainerClient, path: string): Promise<boolean> {
  try {
    return await container.getBlobClient(path).exists();
  } catch (error) {
    throw storageError(`reading ${container.containerName}/${path}`, error);
  }
}

/** Runs the finish stage and returns the final result (with `resultBlob` and `archivedTo`). */
export async function finishImport(
  runtime: Runtime,
  input: FinishInput,
  logger: Logger,
): Promise<ImportResult> {
  const { blobService, containers, config } = runtime;
  const result: ImportResult = { ...input.result };
  const outcome = result.status === 'Succeeded' ? 'succeeded' : 'failed';
  if (input.sourceBlob) {
    const from = {
      container: blobService.getContainerClient(input.sourceBlob.container),
      path: input.sourceBlob.path,
    };
    const to = {
      container: containers.archive,
      path: archiveBlobPath(outcome, input.logicalPath, result.id),
    };
    try {
      await moveBlob(from, to);
      result.archivedTo = `${to.container.containerName}/${to.path}`;
    } catch (error) {
      if (!isNotFound(error) && !(error instanceof Error && 'cause' in error && isNotFound(error.cause)))
        throw error;
      // moved by an earlier attempt of this activity, or deleted by someone else
      if (await exists(to.container, to.path)) result.archivedTo = `${to.container.containerName}/${to.path}`;
      else
        logger.warn(
          `Source ${input.sourceBlob.container}/${input.sourceBlob.path} is gone; nothing to archive`,
        );
    }
  }
  for (const blob of input.stagingBlobs) {
    if (
      input.sourceBlob &&
      blob.container === input.sourceBlob.container &&
      blob.path === input.sourceBlob.path
    )
      continue;
    await blobService
      .getContainerClient(blob.container)
      .deleteBlob(blob.path)
      .catch((error: unknown) => {
        if (!isNotFound(error)) throw storageError(`deleting ${blob.container}/${blob.path}`, error);
      });
  }
  const path = resultBlobPath(input.logicalPath, result.id);
  result.resultBlob = `${containers.results.containerName}/${path}`;
  await writeJsonBlob(containers.results, path, result);
  const type =
    result.status === 'Succeeded' || result.status === 'PartiallySucceeded'
      ? IMPORT_EVENT_TYPES.completed
      : IMPORT_EVENT_TYPES.failed;
  await publishCloudEvent(
    config.serviceBus.connection,
    config.serviceBus.eventsTopic,
    createCloudEvent({
      id: result.id,
      type,
      subject: input.logicalPath,
      time: result.timings.finishedAt,
      data: result,
    }),
    result.correlationId ? { correlationId: result.correlationId } : {},
  );
  logger.info(`Import ${result.id} finished: ${result.status}; result in ${result.resultBlob}`);
  return result;
}
