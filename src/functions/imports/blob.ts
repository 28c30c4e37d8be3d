/**
 * Blob trigger: a file dropped under `{environment}/{project}/[{legalEntity}/]{file}` in the inbound
 * container, or a file of a batch (`{environment}/{project}/{batchId}/{file}` of a batch project,
 * `{environment}/_chains/{chain}/{batchId}/{file}`).
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { bindingNames, getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { InputError } from '../../shared/errors.js';
import { blobImportInstanceId } from '../../shared/jobs/index.js';
import { isNotFound, resolveBatchPath } from '../../shared/storage/index.js';
import { deliverBatchFile } from '../batches/starting.js';
import { unquoteEtag } from '../../shared/util.js';
import { blobTrigger, deliveredBlob } from '../common/blobs.js';
import { recordRejection, rejectedBlobFacts } from '../common/rejections.js';
import { inboundBlobImport, startImport } from './starting.js';

/** Name of the blob trigger function. */
export const IMPORT_BLOB_FUNCTION = 'importBlobTrigger';

/** Handles one delivered blob. */
export async function handleInboundBlob(_blob: unknown, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const container = runtime.containers.inbound.containerName;
  const delivered = deliveredBlob(context);
  const logger = invocationLogger(context, { blob: `${container}/${delivered.name}` });
  let etag = delivered.etag;
  if (etag === undefined) {
    try {
      etag = unquoteEtag(
        (await runtime.containers.inbound.getBlobClient(delivered.name).getProperties()).etag,
      );
    } catch (error) {
      // an event for a blob already moved away (e.g. archived by its import): nothing to do
      if (isNotFound(error)) return logger.info('The blob is gone; nothing to import');
      throw error;
    }
  }
  etag ??= 'unknown';
  let planned;
  try {
    // a file of a batch (a batch project's folder, a chain's) goes to its batch's job
    const batch = resolveBatchPath(runtime.config, delivered.name);
    if (batch) {
      const delivery = await deliverBatchFile(
        runtime,
        df.getClient(context),
        batch,
        { container, path: delivered.name, etag },
        { now: new Date(), logger },
      );
      if (delivery.outcome === 'refused') logger.warn(`Not imported: ${delivery.reason}`);
      else logger.info(`Batch file for job ${delivery.instanceId}: ${delivery.outcome}`);
      return;
    }
    planned = inboundBlobImport(
      runtime.config,
      { container, path: delivered.name, etag },
      { trigger: 'blob', now: new Date() },
    );
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const where = await recordRejection(
      runtime,
      {
        id: blobImportInstanceId(`${container}/${delivered.name}`, etag),
        trigger: 'blob',
        subject: delivered.name,
        reason: error.message,
        code: error.code,
        rejectedAt: new Date().toISOString(),
        details: { container, etag },
        kind: 'import',
        ...rejectedBlobFacts(container, delivered.name),
      },
      { client: df.getClient(context), logger },
    );
    logger.warn(`Not imported: ${error.message} (recorded in ${where}; the file was left in place)`);
    return;
  }
  const outcome = await startImport(df.getClient(context), planned.instanceId, planned.input);
  logger.info(
    outcome.started
      ? `Started import ${outcome.instanceId}`
      : `Import ${outcome.instanceId} already exists for this blob version: nothing started`,
  );
}

blobTrigger(IMPORT_BLOB_FUNCTION, bindingNames().inboundContainer, handleInboundBlob);
