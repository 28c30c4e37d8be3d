/**
 * The import's F&O start: upload + start in one activity, so the write SAS never leaves it (it is
 * never stored in the orchestration history nor reused by a retry).
 */
import { z } from 'zod';
import { defineActivity } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { copyUrlToSas, DmfApiError, DmfErrorCode, uploadPackageToSas } from '../../shared/dmf/index.js';
import { BlobRefSchema } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import {
  blobReadSasUrl,
  NO_SAS_SIGNER,
  openBlobStream,
  recordStage,
  StorageError,
  storageError,
  type JobStagePatch,
} from '../../shared/storage/index.js';
import { errorMessage } from '../../shared/util.js';
import { knownExecutionStatus, throttledBy, type Throttled } from '../common/executions.js';

/** Block size of the package upload (memory ≈ block size × concurrency, whatever the package size). */
export const UPLOAD_BLOCK_SIZE = 8 * 1024 * 1024;
/** Blocks uploaded in parallel (measured: matches a raw SDK copy; bench/import/upload.ts). */
export const UPLOAD_CONCURRENCY = 5;
/** Block size of the server-side copy (each block one Put Block From URL; Azure allows 4,000 MiB). */
export const SERVER_COPY_BLOCK_SIZE = 64 * 1024 * 1024;
/** Blocks copied server side at once (bench/import/upload.ts: 8 keeps up with Azurite's own copy). */
export const SERVER_COPY_CONCURRENCY = 8;

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

/** F&O accepted the start (or had it already). */
export interface UploadAndStartStarted {
  /** Absent in results recorded before the other kinds existed (still in running histories). */
  kind?: 'started';
  executionId: string;
  /** True when F&O already knew the execution (an earlier attempt had started it): nothing was sent. */
  alreadyStarted: boolean;
  bytes: number;
}

/**
 * F&O refused the start for good (a 4xx of GetAzureWriteUrl or ImportFromPackage, after F&O said it
 * did not know the execution): nothing runs, retrying the same call cannot help.
 */
export interface UploadAndStartRefused {
  kind: 'refused';
  /** The client's code, e.g. `DMF_HTTP_400`. */
  code: string;
  message: string;
  /** F&O's own message (`innererror.message`), when it sent one. */
  innerMessage?: string;
}

/**
 * Output of the upload-and-start activity: started; throttled (a 429 anywhere on the way: nothing
 * was started, the orchestration waits Retry-After on a durable timer and calls again); refused.
 */
export type UploadAndStartResult = UploadAndStartStarted | Throttled | UploadAndStartRefused;

/**
 * Uploads the package to a fresh GetAzureWriteUrl SAS and calls ImportFromPackage with the
 * execution id derived from the instance id. Asks GetExecutionSummaryStatus first: when F&O already
 * knows the execution (an earlier attempt of this activity started it before the process died),
 * nothing is uploaded or sent again — one file, one execution. Throws what may be worth a retry
 * (5xx, network, an unconfirmed start: the retry's first question settles it).
 */
export async function uploadAndStart(
  runtime: Runtime,
  input: UploadAndStartInput,
  logger: Logger,
): Promise<UploadAndStartResult> {
  const { packages } = runtime.clients(input.environment);
  let existing;
  try {
    existing = await knownExecutionStatus(packages, input.executionId);
  } catch (error) {
    const throttled = throttledBy(error);
    if (throttled) return throttled;
    throw error;
  }
  if (existing !== undefined) {
    logger.info(`Execution ${input.executionId} already exists in F&O (${existing}): not starting it again`);
    return { kind: 'started', executionId: input.executionId, alreadyStarted: true, bytes: 0 };
  }
  // F&O does not know the execution: from here on, a refusal means nothing runs
  try {
    return await sendPackage(runtime, input, logger);
  } catch (error) {
    const throttled = throttledBy(error);
    if (throttled) {
      logger.warn(`F&O throttled the start of ${input.executionId}: ${throttled.message}`);
      return throttled;
    }
    if (
      error instanceof DmfApiError &&
      !error.transient &&
      error.status !== undefined &&
      error.code !== DmfErrorCode.StartUnconfirmed &&
      // an expired or refused write url: the retry asks F&O for a new one
      error.code !== DmfErrorCode.SasRejected
    ) {
      return {
        kind: 'refused',
        code: error.code,
        message: error.message,
        ...(error.innerMessage !== undefined ? { innerMessage: error.innerMessage } : {}),
      };
    }
    throw error;
  }
}

/** GetAzureWriteUrl, the upload and ImportFromPackage. */
async function sendPackage(
  runtime: Runtime,
  input: UploadAndStartInput,
  logger: Logger,
): Promise<UploadAndStartStarted> {
  const { packages } = runtime.clients(input.environment);
  const { blobUrl } = await packages.getAzureWriteUrl(`${input.executionId}.zip`);
  const { bytes } = await uploadPackage(runtime, input.packageBlob, blobUrl, logger);
  const executionId = await packages.importFromPackage({
    packageUrl: blobUrl,
    definitionGroupId: input.definitionGroupId,
    executionId: input.executionId,
    execute: input.execute,
    overwrite: input.overwrite,
    legalEntityId: input.legalEntity,
  });
  logger.info(`ImportFromPackage accepted execution ${executionId} (${bytes} bytes uploaded)`);
  return { kind: 'started', executionId, alreadyStarted: false, bytes };
}

/** How {@link uploadPackage} moved the package. */
export type UploadMode = 'serverSideCopy' | 'streamed';

/**
 * Puts the package blob into F&O's write url. First server side: F&O's storage reads the blob
 * itself through a short read SAS of ours (`copyUrlToSas`, Put Block From URL), so no byte passes
 * through this function and its memory stays flat. When that cannot be done — no SAS can be signed
 * for our blob, or the destination refuses to copy (`DMF_COPY_REFUSED`) — the blob is streamed
 * through the function as before ({@link UPLOAD_BLOCK_SIZE} × {@link UPLOAD_CONCURRENCY} of memory).
 * The choice is logged. The read SAS lives only in this call.
 */
export async function uploadPackage(
  runtime: Runtime,
  packageBlob: { container: string; path: string },
  sasUrl: string,
  logger: Logger,
): Promise<{ bytes: number; mode: UploadMode }> {
  const container = runtime.blobService.getContainerClient(packageBlob.container);
  const where = `${packageBlob.container}/${packageBlob.path}`;
  let props;
  try {
    props = await container.getBlobClient(packageBlob.path).getProperties();
  } catch (error) {
    throw storageError(`reading ${where}`, error);
  }
  const size = props.contentLength ?? 0;
  let reason: string;
  try {
    const { url, signedWith } = await blobReadSasUrl(
      runtime.blobService,
      packageBlob.container,
      packageBlob.path,
      {
        expiresOn: new Date(Date.now() + copySasLifetimeMs(size)),
      },
    );
    const copied = await copyUrlToSas(url, sasUrl, {
      size,
      ...(props.etag ? { sourceEtag: props.etag } : {}),
      blockSize: SERVER_COPY_BLOCK_SIZE,
      maxConcurrency: SERVER_COPY_CONCURRENCY,
      logger,
    });
    logger.info(
      `Package ${where} copied server side into F&O's blob (Put Block From URL, ${copied.blocks} block(s), ` +
        `read SAS signed with ${signedWith === 'accountKey' ? 'the account key' : 'a user delegation key'})`,
    );
    return { bytes: copied.bytes, mode: 'serverSideCopy' };
  } catch (error) {
    const refused = error instanceof DmfApiError && error.code === DmfErrorCode.CopyRefused;
    const unsigned = error instanceof StorageError && (error.code === NO_SAS_SIGNER || !error.transient);
    if (!refused && !unsigned) throw error;
    reason = errorMessage(error);
  }
  logger.warn(`Package ${where} streamed through the function (no server-side copy: ${reason})`);
  const stream = await openBlobStream(container, packageBlob.path);
  const { bytes } = await uploadPackageToSas(sasUrl, stream, {
    logger,
    blockSize: UPLOAD_BLOCK_SIZE,
    maxConcurrency: UPLOAD_CONCURRENCY,
  });
  return { bytes, mode: 'streamed' };
}

/**
 * How long the read SAS of a server-side copy lives: 15 minutes, plus a minute per 256 MiB (a copy
 * slower than 4 MiB/s is not expected; a retry signs a new one).
 */
export function copySasLifetimeMs(size: number): number {
  return 15 * 60_000 + Math.ceil(size / (256 * 1024 * 1024)) * 60_000;
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
    // throttled or refused: F&O runs nothing, the orchestration decides (and records) what follows
    if (started.kind !== 'throttled' && started.kind !== 'refused') {
      await stage({ stage: 'Polling', executionId: started.executionId });
    }
    return started;
  },
});
