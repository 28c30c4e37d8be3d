/** Blob trigger: a file dropped under `{environment}/{project}/[{legalEntity}/]{file}` in the inbound container. */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { InputError } from '../shared/errors.js';
import { importInstanceId } from '../shared/jobs/index.js';
import { isNotFound } from '../shared/storage/index.js';
import { registerBlobSdkBinding } from '../shared/storage/sdkBinding.js';
import { bindingNames, getRuntime, invocationLogger } from '../activities/runtime.js';
import { inboundBlobImport, recordRejection, startImport } from './starting.js';

/** Name of the blob trigger function. */
export const IMPORT_BLOB_FUNCTION = 'importBlobTrigger';

const Metadata = z.object({
  name: z.string().min(1),
  properties: z.record(z.string(), z.unknown()).optional(),
});

/** The ETag of the delivered blob version, whatever the casing the host used. */
function etagOf(properties: Record<string, unknown> | undefined): string | undefined {
  const entry = Object.entries(properties ?? {}).find(([k]) => k.toLowerCase() === 'etag');
  return typeof entry?.[1] === 'string' ? entry[1].replace(/"/g, '') : undefined;
}

/** Handles one delivered blob. */
export async function handleInboundBlob(_blob: unknown, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const container = runtime.containers.inbound.containerName;
  const meta = Metadata.parse(context.triggerMetadata);
  const logger = invocationLogger(context, { blob: `${container}/${meta.name}` });
  let etag = etagOf(meta.properties);
  if (etag === undefined) {
    try {
      etag = (await runtime.containers.inbound.getBlobClient(meta.name).getProperties()).etag?.replace(
        /"/g,
        '',
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
    planned = inboundBlobImport(
      runtime.config,
      { container, path: meta.name, etag },
      { trigger: 'blob', now: new Date() },
    );
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    const where = await recordRejection(runtime, {
      id: importInstanceId({ source: `${container}/${meta.name}`, version: etag }),
      trigger: 'blob',
      subject: meta.name,
      reason: error.message,
      code: error.code,
      rejectedAt: new Date().toISOString(),
      details: { container, etag },
    });
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

registerBlobSdkBinding();
app.storageBlob(IMPORT_BLOB_FUNCTION, {
  path: `${bindingNames().inboundContainer}/{name}`,
  connection: 'AzureWebJobsStorage',
  // The host hands over a reference, not the bytes (shared/storage/sdkBinding.ts): a dropped
  // package is never loaded whole into memory.
  sdkBinding: true,
  // Flex Consumption runs blob triggers from Event Grid only (infra/ subscribes it after deploy).
  source: 'EventGrid',
  extraInputs: [df.input.durableClient()],
  handler: handleInboundBlob,
});
