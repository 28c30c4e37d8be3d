/** The blob triggers: how they are bound, and what they read from a delivery. */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { registerBlobSdkBinding } from '../../shared/app/sdkBinding.js';
import { unquoteEtag } from '../../shared/util.js';

const Metadata = z.object({
  name: z.string().min(1),
  properties: z.record(z.string(), z.unknown()).optional(),
});

/**
 * Registers a blob trigger on `container` (connection `AzureWebJobsStorage`) whose handler may read
 * the durable client. Event Grid source: Flex Consumption runs blob triggers from Event Grid only
 * (infra/ subscribes each trigger after deploy: the postdeploy hook's DMF_BLOB_TRIGGERS). SDK
 * binding: the host hands over a reference, not the bytes (src/shared/app/sdkBinding.ts), so a
 * dropped package is never loaded whole into memory; the handlers read the trigger metadata only.
 */
export function blobTrigger(
  name: string,
  container: string,
  handler: (blob: unknown, context: InvocationContext) => Promise<void>,
): void {
  registerBlobSdkBinding();
  app.storageBlob(name, {
    path: `${container}/{name}`,
    connection: 'AzureWebJobsStorage',
    sdkBinding: true,
    source: 'EventGrid',
    extraInputs: [df.input.durableClient()],
    handler,
  });
}

/**
 * The delivered blob's name (path in its container) and, when the host says, the ETag of the
 * delivered version (whatever the casing of the property), unquoted.
 */
export function deliveredBlob(context: InvocationContext): { name: string; etag: string | undefined } {
  const meta = Metadata.parse(context.triggerMetadata);
  const entry = Object.entries(meta.properties ?? {}).find(([k]) => k.toLowerCase() === 'etag');
  return { name: meta.name, etag: typeof entry?.[1] === 'string' ? unquoteEtag(entry[1]) : undefined };
}
