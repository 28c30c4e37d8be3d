/**
 * Blob trigger of the recurring-inbound container: `{environment}/{activityId}/[{company}/][{entity}/]{file}`.
 * On Flex Consumption a blob trigger needs its Event Grid subscription: the postdeploy hooks'
 * DMF_BLOB_TRIGGERS (infra/hooks) lists `recurringImportBlobTrigger=dmf-recurring-inbound`.
 */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { bindingNames, getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { deliveredBlob } from '../common/blobs.js';
import { startForBlob } from './starting.js';

/** Name of the blob trigger function. */
export const RECURRING_IMPORT_BLOB_FUNCTION = 'recurringImportBlobTrigger';

/** Handles one blob dropped in the recurring-inbound container. */
export async function handleRecurringImportBlob(_blob: unknown, context: InvocationContext): Promise<void> {
  const delivered = deliveredBlob(context);
  const logger = invocationLogger(context, { blob: delivered.name });
  const outcome = await startForBlob(
    getRuntime(),
    df.getClient(context),
    delivered.name,
    delivered.etag,
    logger,
  );
  if (outcome.kind === 'gone') logger.info('The blob is gone; nothing to enqueue');
}

app.storageBlob(RECURRING_IMPORT_BLOB_FUNCTION, {
  path: `${bindingNames().recurringInboundContainer}/{name}`,
  connection: 'AzureWebJobsStorage',
  // Flex Consumption runs blob triggers from Event Grid only, as the import's does.
  source: 'EventGrid',
  extraInputs: [df.input.durableClient()],
  handler: handleRecurringImportBlob,
});
