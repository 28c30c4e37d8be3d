/**
 * The import's finish stage: archive the source (copy, verify, delete), drop staging blobs, write
 * the result JSON, list the final job in the job index, publish the CloudEvent. Every step is idempotent, so an activity retry is harmless.
 */
import type * as df from 'durable-functions';
import { z } from 'zod';
import { ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { IMPORT_EVENT_TYPES } from '../../shared/events/index.js';
import { BlobRefSchema, type ImportResult } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { archiveBlobPath, isNotFound, storageError } from '../../shared/storage/index.js';
import {
  archiveBatchFiles,
  archiveOutcomeOf,
  archiveSource,
  defineFinishActivity,
  finishJob,
} from '../common/results.js';

/** Input of the finish activity (written by the import orchestration). */
export const FinishInputSchema = z.object({
  result: ownValue<ImportResult>('the import result'),
  logicalPath: z.string(),
  sourceBlob: BlobRefSchema.optional(),
  /** A batch's files: archived side by side under `{outcome}/{batch folder}/{jobId}/`. */
  sourceBlobs: z.array(BlobRefSchema).optional(),
  stagingBlobs: z.array(BlobRefSchema),
});
/** See {@link FinishInputSchema}. */
export type FinishInput = z.infer<typeof FinishInputSchema>;

/**
 * Runs the finish stage and returns the final result (with `resultBlob` and `archivedTo`); with a
 * durable client, also starts the alerts its outcome calls for.
 */
export async function finishImport(
  runtime: Runtime,
  input: FinishInput,
  logger: Logger,
  client?: df.DurableClient,
): Promise<ImportResult> {
  const { blobService } = runtime;
  const result: ImportResult = { ...input.result };
  if (input.sourceBlob) {
    const to = archiveBlobPath(archiveOutcomeOf(result.status), input.logicalPath, result.id);
    const archivedTo = await archiveSource(runtime, input.sourceBlob, to, logger);
    if (archivedTo) result.archivedTo = archivedTo;
  }
  if (input.sourceBlobs?.length) {
    const to = { folder: input.logicalPath, job: result };
    const archivedTo = await archiveBatchFiles(runtime, input.sourceBlobs, to, logger);
    if (archivedTo) result.archivedTo = archivedTo;
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
  return finishJob(
    runtime,
    logger,
    {
      kind: 'import',
      label: 'Import',
      logicalPath: input.logicalPath,
      event: { types: IMPORT_EVENT_TYPES, subject: input.logicalPath },
      client,
    },
    result,
  );
}

/** {@link finishImport} as an activity. */
export const finishActivity = defineFinishActivity('importFinish', FinishInputSchema, finishImport);
