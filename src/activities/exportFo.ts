/**
 * The F&O and storage side of a package export: start (ExportToPackage with the derived execution
 * id), store (GetExportedPackageUrl → streamed copy into the outbound container, optional unpack)
 * and finish (result JSON + CloudEvent). The SAS url never leaves the store activity, so it is
 * never written to the orchestration history.
 */
import type { ContainerClient } from '@azure/storage-blob';
import { DmfApiError, DmfErrorCode, downloadSasStream } from '../shared/dmf/index.js';
import { createCloudEvent, publishCloudEvent } from '../shared/events/index.js';
import type { Logger } from '../shared/log/index.js';
import { blobSource, openPackage } from '../shared/packages/index.js';
import { resultBlobPath, safeFileName, uploadStreamTo, writeJsonBlob } from '../shared/storage/index.js';
import type {
  ExportResult,
  ExportStartInput,
  ExportStoreInput,
  ExportStoreResult,
  StoredBlob,
} from '../orchestrators/exportInput.js';
import { EXPORT_EVENT_SOURCE, EXPORT_EVENT_TYPES } from './exportNames.js';
import type { Runtime } from './runtime.js';

/** Timeout of the wait for the package download's headers. */
export const PACKAGE_DOWNLOAD_TIMEOUT_MS = 120_000;

/** The outbound container (exported packages, dequeued recurring files). */
export function outboundContainer(runtime: Runtime): ContainerClient {
  return runtime.blobService.getContainerClient(runtime.config.storage.containers.outbound);
}

/** Folder of an export's package: `{environment}/{project}/{yyyy}/{MM}/{dd}` (UTC date of the request). */
export function exportFolder(environment: string, project: string, requestedAt: string | Date): string {
  const d = new Date(requestedAt);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${environment}/${project}/${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}`;
}

/** Blob name of an export's zip inside its folder: `{packageName}-{jobId}.zip`. */
export function exportFileName(packageName: string, jobId: string): string {
  return safeFileName(`${packageName.replace(/\.zip$/i, '')}-${jobId}.zip`);
}

/** Logical path of an export's results (results container): `exports/{environment}/{project}`. */
export function exportLogicalPath(environment: string, project: string): string {
  return `exports/${environment}/${project}`;
}

/**
 * Calls ExportToPackage with the derived execution id, unless F&O already knows that execution (an
 * earlier attempt of this activity started it before the process died): one job, one execution.
 */
export async function startExport(
  runtime: Runtime,
  input: ExportStartInput,
  logger: Logger,
): Promise<{ executionId: string; alreadyStarted: boolean }> {
  const { packages } = runtime.clients(input.environment);
  if (!input.reExecute) {
    try {
      const existing = await packages.getExecutionSummaryStatus(input.executionId);
      if (existing !== 'Unknown') {
        logger.info(`Export ${input.executionId} already exists in F&O (${existing}): not starting it again`);
        return { executionId: input.executionId, alreadyStarted: true };
      }
    } catch (error) {
      if (!(error instanceof DmfApiError && error.code === DmfErrorCode.ExecutionNotFound)) throw error;
    }
  }
  const executionId = await packages.exportToPackage({
    definitionGroupId: input.definitionGroupId,
    packageName: input.packageName,
    executionId: input.executionId,
    reExecute: input.reExecute,
    legalEntityId: input.legalEntity,
  });
  logger.info(`ExportToPackage accepted execution ${executionId}`);
  return { executionId, alreadyStarted: false };
}

/**
 * Asks GetExportedPackageUrl; "" → not ready. Otherwise streams the package (plain GET on the SAS
 * url, no token) into the outbound container with bounded memory (block size × concurrency), then,
 * with `unpack`, streams each entry of the stored zip (range reads, never the whole zip in memory)
 * into `{folder}/{zip name without .zip}/{entry}`. Idempotent: a retry overwrites the same blobs.
 */
export async function storeExport(
  runtime: Runtime,
  input: ExportStoreInput,
  logger: Logger,
): Promise<ExportStoreResult> {
  const { packages } = runtime.clients(input.environment);
  const url = await packages.getExportedPackageUrl(input.executionId);
  if (!url) return { ready: false };
  const outbound = outboundContainer(runtime);
  const path = `${input.folder}/${input.fileName}`;
  const download = await downloadSasStream(url, { timeoutMs: PACKAGE_DOWNLOAD_TIMEOUT_MS });
  const { bytes } = await uploadStreamTo(outbound, path, download.stream, { contentType: 'application/zip' });
  const stored: StoredBlob = { container: outbound.containerName, path, bytes };
  const unpacked: StoredBlob[] = [];
  if (input.unpack) {
    const folder = `${input.folder}/${input.fileName.replace(/\.zip$/i, '')}`;
    const reader = await openPackage(await blobSource(outbound.getBlobClient(path), { size: bytes }));
    try {
      for (const entry of reader.entries) {
        if (entry.isDirectory) continue;
        const target = `${folder}/${safeFileName(entry.name)}`;
        const stream = await reader.openEntryStream(entry.name);
        const written = await uploadStreamTo(outbound, target, stream, {
          contentType: entry.name.toLowerCase().endsWith('.xml')
            ? 'application/xml'
            : 'application/octet-stream',
        });
        unpacked.push({ container: outbound.containerName, path: target, bytes: written.bytes });
      }
    } finally {
      await reader.close();
    }
  }
  logger.info(
    `Stored export ${input.executionId} (${bytes} bytes) in ${outbound.containerName}/${path}` +
      (input.unpack ? ` and ${unpacked.length} unpacked file(s)` : ''),
  );
  return { ready: true, package: stored, unpacked };
}

/** Writes the result JSON (results container) and publishes `…export.completed` / `…export.failed`. */
export async function finishExport(
  runtime: Runtime,
  result: ExportResult,
  logger: Logger,
): Promise<ExportResult> {
  const { containers, config } = runtime;
  const path = resultBlobPath(exportLogicalPath(result.environment, result.project), result.id);
  const final: ExportResult = { ...result, resultBlob: `${containers.results.containerName}/${path}` };
  await writeJsonBlob(containers.results, path, final);
  const ok = final.status === 'Succeeded' || final.status === 'PartiallySucceeded';
  await publishCloudEvent(
    config.serviceBus.connection,
    config.serviceBus.eventsTopic,
    {
      ...createCloudEvent({
        id: final.id,
        type: ok ? EXPORT_EVENT_TYPES.completed : EXPORT_EVENT_TYPES.failed,
        subject: `${final.environment}/${final.project}`,
        time: final.timings.finishedAt,
        data: final,
      }),
      source: EXPORT_EVENT_SOURCE,
    },
    final.correlationId ? { correlationId: final.correlationId } : {},
  );
  logger.info(`Export ${final.id} finished: ${final.status}; result in ${final.resultBlob}`);
  return final;
}
