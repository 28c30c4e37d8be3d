/**
 * The F&O and storage side of a package export: start (ExportToPackage with the derived execution
 * id), store (GetExportedPackageUrl → streamed copy into the outbound container, optional unpack)
 * and finish (result JSON + CloudEvent). The SAS url never leaves the store activity, so it is
 * never written to the orchestration history.
 */
import * as df from 'durable-functions';
import { z } from 'zod';
import { defineActivity, ownValue } from '../../shared/app/activity.js';
import type { Runtime } from '../../shared/app/runtime.js';
import { DmfApiError, DmfErrorCode, downloadSasStream } from '../../shared/dmf/index.js';
import { EXPORT_EVENT_SOURCE, EXPORT_EVENT_TYPES } from '../../shared/events/index.js';
import { instanceIdOfExecution, type ExportResult, type StoredBlob } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { blobSource, openPackage } from '../../shared/packages/index.js';
import {
  exportLogicalPath,
  exportPackageBlobPath,
  recordStage,
  unpackedEntryBlobPath,
  uploadStreamTo,
} from '../../shared/storage/index.js';
import { knownExecutionStatus, throttledBy, type Throttled } from '../common/executions.js';
import { pausedGate, type Paused } from '../common/queued.js';
import { alertFinal, publishOutcome, recordFinal, storeResult } from '../common/results.js';

/** Timeout of the wait for the package download's headers. */
export const PACKAGE_DOWNLOAD_TIMEOUT_MS = 120_000;

/** Input of the start activity. */
export const ExportStartInputSchema = z.object({
  environment: z.string(),
  executionId: z.string(),
  definitionGroupId: z.string(),
  packageName: z.string(),
  reExecute: z.boolean(),
  legalEntity: z.string(),
});
/** See {@link ExportStartInputSchema}. */
export type ExportStartInput = z.infer<typeof ExportStartInputSchema>;

/** Input of the store activity. */
export const ExportStoreInputSchema = z.object({
  environment: z.string(),
  executionId: z.string(),
  /** Folder (outbound container) of the package: `{environment}/{project}/{yyyy}/{MM}/{dd}`. */
  folder: z.string(),
  /** Blob name of the zip inside `folder`. */
  fileName: z.string(),
  unpack: z.boolean(),
});
/** See {@link ExportStoreInputSchema}. */
export type ExportStoreInput = z.infer<typeof ExportStoreInputSchema>;

/** Output of the store activity: not ready while F&O answers "" for the url. */
export type ExportStoreResult =
  { ready: false } | { ready: true; package: StoredBlob; unpacked: StoredBlob[] };

/**
 * Output of the start activity: started (or F&O had it already); throttled (429: nothing started,
 * the orchestration waits Retry-After on a durable timer); `notStarted`: ExportToPackage answered
 * the all-zero GUID, which is no execution id (the orchestration starts again, a bounded number of
 * times, as Microsoft's Logic App sample does); `paused`: the environment is paused, nothing was sent.
 */
export type ExportStartResult =
  | { kind?: 'started'; executionId: string; alreadyStarted: boolean }
  | Throttled
  | { kind: 'notStarted'; message: string }
  | Paused;

/**
 * Calls ExportToPackage with the derived execution id, unless F&O already knows that execution (an
 * earlier attempt of this activity started it before the process died): one job, one execution.
 */
export async function startExport(
  runtime: Runtime,
  input: ExportStartInput,
  logger: Logger,
): Promise<Exclude<ExportStartResult, Paused>> {
  const { packages } = runtime.clients(input.environment);
  try {
    if (!input.reExecute) {
      const existing = await knownExecutionStatus(packages, input.executionId);
      if (existing !== undefined) {
        logger.info(`Export ${input.executionId} already exists in F&O (${existing}): not starting it again`);
        return { kind: 'started', executionId: input.executionId, alreadyStarted: true };
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
    return { kind: 'started', executionId, alreadyStarted: false };
  } catch (error) {
    if (error instanceof DmfApiError && error.code === DmfErrorCode.ZeroExecutionId) {
      logger.warn(`ExportToPackage answered the all-zero GUID for ${input.executionId}: nothing started`);
      return { kind: 'notStarted', message: error.message };
    }
    const throttled = throttledBy(error);
    if (throttled) return throttled;
    throw error;
  }
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
  const { outbound } = runtime.containers;
  const path = exportPackageBlobPath(input.folder, input.fileName);
  const download = await downloadSasStream(url, { timeoutMs: PACKAGE_DOWNLOAD_TIMEOUT_MS });
  const { bytes } = await uploadStreamTo(outbound, path, download.stream, { contentType: 'application/zip' });
  const stored: StoredBlob = { container: outbound.containerName, path, bytes };
  const unpacked: StoredBlob[] = [];
  if (input.unpack) {
    const reader = await openPackage(await blobSource(outbound.getBlobClient(path), { size: bytes }));
    try {
      for (const entry of reader.entries) {
        if (entry.isDirectory) continue;
        const target = unpackedEntryBlobPath(input.folder, input.fileName, entry.name);
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

/**
 * Writes the result JSON (results container), publishes `…export.completed` / `…export.failed` and,
 * with a durable client, starts the alerts its outcome calls for.
 */
export async function finishExport(
  runtime: Runtime,
  result: ExportResult,
  logger: Logger,
  client?: df.DurableClient,
): Promise<ExportResult> {
  const final = await storeResult(runtime, exportLogicalPath(result.environment, result.project), result);
  await recordFinal(runtime, logger, 'export', final);
  await publishOutcome(runtime, final, {
    types: EXPORT_EVENT_TYPES,
    source: EXPORT_EVENT_SOURCE,
    subject: `${final.environment}/${final.project}`,
  });
  await alertFinal(runtime, client, logger, 'export', final);
  logger.info(`Export ${final.id} finished: ${final.status}; result in ${final.resultBlob}`);
  return final;
}

/**
 * {@link startExport} as an activity, unless the environment is paused (then it answers
 * {@link Paused} and sends nothing); the job index then shows the export Running (Polling).
 */
export const startActivity = defineActivity({
  name: 'exportStart',
  input: ExportStartInputSchema,
  log: ({ executionId }) => ({ executionId }),
  durableClient: true,
  handler: async (input, { runtime, logger, context }): Promise<ExportStartResult> => {
    const paused = await pausedGate(df.getClient(context), input.environment);
    if (paused) {
      logger.info(`Environment ${input.environment} is paused (since ${paused.since}): export not started`);
      return paused;
    }
    const started = await startExport(runtime, input, logger);
    const id = instanceIdOfExecution(input.executionId);
    // throttled or not started (the all-zero GUID): F&O runs nothing yet, the orchestration asks again
    if (id !== undefined && started.kind !== 'throttled' && started.kind !== 'notStarted') {
      await recordStage(runtime.jobIndex, logger, id, {
        status: 'Running',
        stage: 'Polling',
        executionId: started.executionId,
        updatedAt: new Date().toISOString(),
      });
    }
    return started;
  },
});

/** {@link storeExport} as an activity. */
export const storeActivity = defineActivity({
  name: 'exportStore',
  input: ExportStoreInputSchema,
  log: ({ executionId }) => ({ executionId }),
  handler: (input, { runtime, logger }) => storeExport(runtime, input, logger),
});

/** {@link finishExport} as an activity (its input is the result our orchestration built). */
export const finishActivity = defineActivity({
  name: 'exportFinish',
  input: ownValue<ExportResult>('the export result'),
  log: (result) => ({ instanceId: result.id }),
  durableClient: true,
  handler: (result, { runtime, logger, context }) =>
    finishExport(runtime, result, logger, df.getClient(context)),
});
