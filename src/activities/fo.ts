/**
 * The F&O side of an import: upload + start in one activity (the write SAS never leaves it, so it
 * is never stored in the orchestration history nor reused by a retry), status polls, error files.
 */
import type { Readable } from 'node:stream';
import { DmfApiError, DmfErrorCode, downloadSasStream, uploadPackageToSas } from '../shared/dmf/index.js';
import type { Logger } from '../shared/log/index.js';
import { errorFileBlobPath, openBlobStream, uploadStreamTo, writeJsonBlob } from '../shared/storage/index.js';
import type {
  CollectErrorsInput,
  CollectErrorsResult,
  StatusResult,
  UploadAndStartInput,
  UploadAndStartResult,
} from '../orchestrators/input.js';
import type { Runtime } from './runtime.js';

/** Block size of the package upload (memory ≈ block size × concurrency, whatever the package size). */
export const UPLOAD_BLOCK_SIZE = 8 * 1024 * 1024;
/** Blocks uploaded in parallel (measured: matches a raw SDK copy; bench/import/upload.ts). */
export const UPLOAD_CONCURRENCY = 5;

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
  try {
    const existing = await packages.getExecutionSummaryStatus(input.executionId);
    // some environments answer `Unknown` instead of "not found" for an id never started
    if (existing !== 'Unknown') {
      logger.info(
        `Execution ${input.executionId} already exists in F&O (${existing}): not starting it again`,
      );
      return { executionId: input.executionId, alreadyStarted: true, bytes: 0 };
    }
  } catch (error) {
    if (!(error instanceof DmfApiError && error.code === DmfErrorCode.ExecutionNotFound)) throw error;
  }
  const { blobUrl } = await packages.getAzureWriteUrl(`${input.executionId}.zip`);
  const stream: Readable = await openBlobStream(
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

/** One status poll. Transient trouble that outlived the client's retries is `unavailable`, not a throw. */
export async function getStatus(
  runtime: Runtime,
  input: { environment: string; executionId: string },
): Promise<StatusResult> {
  try {
    const status = await runtime
      .clients(input.environment)
      .packages.getExecutionSummaryStatus(input.executionId);
    // `Unknown` is what some environments answer for an id they do not know (yet)
    return status === 'Unknown' ? { kind: 'notFound' } : { kind: 'status', status };
  } catch (error) {
    if (error instanceof DmfApiError && error.code === DmfErrorCode.ExecutionNotFound)
      return { kind: 'notFound' };
    if (error instanceof DmfApiError && error.transient)
      return { kind: 'unavailable', message: error.message };
    throw error;
  }
}

async function copyUrl(runtime: Runtime, url: string, path: string): Promise<number> {
  const download = await downloadSasStream(url, { timeoutMs: 60_000 });
  const { bytes } = await uploadStreamTo(runtime.containers.results, path, download.stream, {
    contentType: download.contentType ?? 'text/csv',
  });
  return bytes;
}

const entityFile = (entity: string, suffix: string): string =>
  `${entity.replace(/[^A-Za-z0-9._-]+/g, '_')}.${suffix}`;

/**
 * Fetches GetExecutionErrors and, per entity, the staging error file and the target error keys file
 * (generated first; F&O may need a while: entities still pending are returned for a later call),
 * and copies them into the results container next to the result JSON.
 */
export async function collectErrors(
  runtime: Runtime,
  input: CollectErrorsInput,
  logger: Logger,
): Promise<CollectErrorsResult> {
  const { packages } = runtime.clients(input.environment);
  const results = runtime.containers.results;
  const out: CollectErrorsResult = { errors: [], files: [], pendingTargetKeys: [] };
  const firstPass = input.onlyTargetKeysFor === undefined;
  if (firstPass) {
    const errors = await packages.getExecutionErrors(input.executionId);
    for (const e of errors) {
      const entity = typeof e.raw.EntityName === 'string' ? e.raw.EntityName : undefined;
      out.errors.push({
        code: 'DMF_EXECUTION_ERROR',
        message: e.errorMessage ?? JSON.stringify(e.raw),
        ...(e.recordId ? { recordId: e.recordId } : {}),
        ...(e.field ? { field: e.field } : {}),
        ...(entity ? { entity } : {}),
      });
    }
    if (errors.length > 0) {
      const path = errorFileBlobPath(input.logicalPath, input.instanceId, 'execution-errors.json');
      await writeJsonBlob(
        results,
        path,
        errors.map((e) => e.raw),
      );
      out.files.push({
        kind: 'executionErrors',
        container: results.containerName,
        path,
        bytes: Buffer.byteLength(
          JSON.stringify(
            errors.map((e) => e.raw),
            null,
            2,
          ),
        ),
      });
    }
  }
  const entities = input.onlyTargetKeysFor ?? input.entities;
  for (const entity of entities) {
    if (firstPass) {
      const stagingUrl = await packages.getImportStagingErrorFileUrl(input.executionId, entity);
      if (stagingUrl) {
        const path = errorFileBlobPath(
          input.logicalPath,
          input.instanceId,
          entityFile(entity, 'staging-errors.csv'),
        );
        const bytes = await copyUrl(runtime, stagingUrl, path);
        out.files.push({ kind: 'staging', entity, container: results.containerName, path, bytes });
      }
      const hasKeys = await packages.generateImportTargetErrorKeysFile(input.executionId, entity);
      if (!hasKeys) continue;
    }
    const keysUrl = await packages.getImportTargetErrorKeysFileUrl(input.executionId, entity);
    if (!keysUrl) {
      out.pendingTargetKeys.push(entity);
      continue;
    }
    const path = errorFileBlobPath(
      input.logicalPath,
      input.instanceId,
      entityFile(entity, 'target-error-keys.csv'),
    );
    const bytes = await copyUrl(runtime, keysUrl, path);
    out.files.push({ kind: 'targetKeys', entity, container: results.containerName, path, bytes });
  }
  logger.info(
    `Copied ${out.files.length} error file(s) for execution ${input.executionId}; ${out.pendingTargetKeys.length} still generating`,
  );
  return out;
}
