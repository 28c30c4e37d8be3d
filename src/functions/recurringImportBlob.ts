/**
 * Blob trigger of the recurring-inbound container: `{environment}/{activityId}/[{company}/][{entity}/]{file}`.
 * On Flex Consumption a blob trigger needs its Event Grid subscription: the postdeploy hooks'
 * DMF_BLOB_TRIGGERS (infra/hooks) lists `recurringImportBlobTrigger=dmf-recurring-inbound`.
 */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { z } from 'zod';
import { DEFAULT_NAMES, SETTING_NAMES } from '../shared/config/index.js';
import { getRuntime, invocationLogger } from '../activities/runtime.js';
import { registerBlobSdkBinding } from '../shared/storage/sdkBinding.js';
import { startForBlob } from './recurringTriggers.js';

/** Name of the blob trigger function. */
export const RECURRING_IMPORT_BLOB_FUNCTION = 'recurringImportBlobTrigger';

const Metadata = z.object({
  name: z.string().min(1),
  properties: z.record(z.string(), z.unknown()).optional(),
});

/** Handles one blob dropped in the recurring-inbound container. */
export async function handleRecurringImportBlob(_blob: unknown, context: InvocationContext): Promise<void> {
  const meta = Metadata.parse(context.triggerMetadata);
  const etagEntry = Object.entries(meta.properties ?? {}).find(([k]) => k.toLowerCase() === 'etag');
  const etag = typeof etagEntry?.[1] === 'string' ? etagEntry[1].replace(/"/g, '') : undefined;
  const logger = invocationLogger(context, { blob: meta.name });
  const outcome = await startForBlob(getRuntime(), df.getClient(context), meta.name, etag, logger);
  if (outcome.kind === 'gone') logger.info('The blob is gone; nothing to enqueue');
}

registerBlobSdkBinding();
app.storageBlob(RECURRING_IMPORT_BLOB_FUNCTION, {
  path: `${process.env[SETTING_NAMES.recurringInboundContainer]?.trim() || DEFAULT_NAMES.recurringInboundContainer}/{name}`,
  connection: 'AzureWebJobsStorage',
  // The host hands over a reference, not the bytes (shared/storage/sdkBinding.ts): a dropped
  // package is never loaded whole into memory.
  sdkBinding: true,
  // Flex Consumption runs blob triggers from Event Grid only, as the import's does.
  source: 'EventGrid',
  extraInputs: [df.input.durableClient()],
  handler: handleRecurringImportBlob,
});
