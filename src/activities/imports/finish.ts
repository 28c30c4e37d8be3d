/**
 * The import's finish stage: archive the source (copy, verify, delete), drop staging blobs, write
 * the result JSON, list the final job in the job index, publish the CloudEvent. Every step is idempotent, so an activity retry is harmless.
 */
import * as df from 'durable-functions';
import { z } from 'zod';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { IMPORT_EVENT_TYPES } from '../../shared/events/index.js';
import { BlobRefSchema, type ImportResult } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { archiveBlobPath, isNotFound, storageError } from '../../shared/storage/index.js';
import {
  alertFinal,
  archiveBatchFiles,
  archiveSource,
  publishOutcome,
  recordFinal,
  storeResult,
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
  let result: ImportResult = { ...input.result };
  if (input.sourceBlob) {
    const outcome = result.status === 'Succeeded' ? 'succeeded' : 'failed';
    const archivedTo = await archiveSource(
      runtime,
      input.sourceBlob,
      archiveBlobPath(outcome, input.logicalPath, result.id),
      logger,
    );
    if (archivedTo) result.archivedTo = archivedTo;
  }
  if (input.sourceBlobs?.length) {
    const archivedTo = await archiveBatchFiles(
      runtime,
      input.sourceBlobs,
      {
        outcome: result.status === 'Succeeded' ? 'succeeded' : 'failed',
        folder: input.logicalPath,
        jobId: result.id,
      },
      logger,
    );
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
  result = await storeResult(runtime, input.logicalPath, result);
  await recordFinal(runtime, logger, 'import', result);
  await publishOutcome(runtime, result, { types: IMPORT_EVENT_TYPES, subject: input.logicalPath });
  await alertFinal(runtime, client, logger, 'import', result);
  logger.info(`Import ${result.id} finished: ${result.status}; result in ${result.resultBlob}`);
  return result;
}

/** {@link finishImport} as an activity. */
export const finishActivity = defineActivity({
  name: 'importFinish',
  input: FinishInputSchema,
  log: ({ result }) => ({ instanceId: result.id }),
  durableClient: true,
  handler: (input, { runtime, logger, context }) =>
    finishImport(runtime, input, logger, df.getClient(context)),
});
