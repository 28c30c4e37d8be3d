/** Blob trigger of the recurring-inbound container: `{environment}/{activityId}/[{company}/][{entity}/]{file}`. */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { bindingNames, getRuntime, invocationLogger } from '../../shared/app/runtime.js';
import { blobTrigger, deliveredBlob } from '../common/blobs.js';
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

blobTrigger(
  RECURRING_IMPORT_BLOB_FUNCTION,
  bindingNames().recurringInboundContainer,
  handleRecurringImportBlob,
);
