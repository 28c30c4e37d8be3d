/**
 * The import's F&O start: upload + start in one activity, so the write SAS never leaves it (it is
 * never stored in the orchestration history nor reused by a retry).
 */
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { uploadPackageToSas } from '../../shared/dmf/index.js';
import { BlobRefSchema } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { openBlobStream, recordStage, type JobStagePatch } from '../../shared/storage/index.js';
import { knownExecutionStatus } from '../common/executions.js';

/** Block size of the package upload (memory ≈ block size × concurrency, whatever the package size). */
export const UPLOAD_BLOCK_SIZE = 8 * 1024 * 1024;
/** Blocks uploaded in parallel (measured: matches a raw SDK copy; bench/import/upload.ts). */
export const UPLOAD_CONCURRENCY = 5;

/** Input of the upload-and-start activity. */
export const UploadAndStartInputSchema = z.object({
  instanceId: z.string(),
  executionId: z.string(),
  environment: z.string(),
  packageBlob: BlobRefSchema,
  definitionGroupId: z.string(),
  legalEntity: z.string(),
  execute: z.boolean(),
  overwrite: z.boolean(),
});
/** See {@link UploadAndStartInputSchema}. */
export type UploadAndStartInput = z.infer<typeof UploadAndStartInputSchema>;

/** Output of the upload-and-start activity. */
export interface UploadAndStartResult {
  executionId: string;
  /** True when F&O already knew the execution (an earlier attempt had started it): nothing was sent. */
  alreadyStarted: boolean;
  bytes: number;
}

/**
 * Uploads the package to a fresh GetAzureWriteUrl SAS and calls ImportFromPackage with the
 * execution id derived from the instance id. Asks GetExecutionSummaryStatus first: when F&O already
 * knows the execution (an earlier attempt of this activity started it before the process died),
 * nothing is uploaded or sent again — one file, one execution.
 */
export async function uploadAndStart(
  runtime: Runtime,
  input: UploadAndStartInput,
  logger: Logger,
): Promise<UploadAndStartResult> {
  const { packages } = runtime.clients(input.environment);
  const existing = await knownExecutionStatus(packages, input.executionId);
  if (existing !== undefined) {
    logger.info(`Execution ${input.executionId} already exists in F&O (${existing}): not starting it again`);
    return { executionId: input.executionId, alreadyStarted: true, bytes: 0 };
  }
  const { blobUrl } = await packages.getAzureWriteUrl(`${input.executionId}.zip`);
  const stream = await openBlobStream(
    runtime.blobService.getContainerClient(input.packageBlob.container),
    input.packageBlob.path,
  );
  const { bytes } = await uploadPackageToSas(blobUrl, stream, {
    logger,
    blockSize: UPLOAD_BLOCK_SIZE,
    maxConcurrency: UPLOAD_CONCURRENCY,
  });
  const executionId = await packages.importFromPackage({
    packageUrl: blobUrl,
    definitionGroupId: input.definitionGroupId,
    executionId: input.executionId,
    execute: input.execute,
    overwrite: input.overwrite,
    legalEntityId: input.legalEntity,
  });
  logger.info(`ImportFromPackage accepted execution ${executionId} (${bytes} bytes uploaded)`);
  return { executionId, alreadyStarted: false, bytes };
}

/**
 * {@link uploadAndStart} as an activity. The job index shows the job Running (Uploading) while it
 * uploads — written beside the upload, off its path — and Polling once F&O accepted it.
 */
export const uploadAndStartActivity = defineActivity({
  name: 'importUploadAndStart',
  input: UploadAndStartInputSchema,
  log: ({ instanceId }) => ({ instanceId }),
  handler: async (input, { runtime, logger }) => {
    const stage = (patch: Omit<JobStagePatch, 'status' | 'updatedAt'>): Promise<void> =>
      recordStage(runtime.jobIndex, logger, input.instanceId, {
        status: 'Running',
        updatedAt: new Date().toISOString(),
        ...patch,
      });
    const uploading = stage({ stage: 'Uploading' });
    const started = await uploadAndStart(runtime, input, logger);
    await uploading;
    await stage({ stage: 'Polling', executionId: started.executionId });
    return started;
  },
});
