/** Service Bus trigger: JSON commands on the commands queue (`import` here, `export` dispatched). */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { InputError } from '../shared/errors.js';
import { bindingNames, getRuntime, invocationLogger } from '../activities/runtime.js';
import { handleExportCommand } from './exportCommand.js';
import { parseCommand, recordRejection, referencedImport, startImport } from './starting.js';

/** Name of the Service Bus trigger function. */
export const IMPORT_COMMAND_FUNCTION = 'importCommand';

/**
 * Handles one command. An invalid command is recorded as rejected (results container + event) and
 * completed — never retried; only infrastructure failures throw (and are redelivered).
 */
export async function handleImportCommand(message: unknown, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const messageId =
    typeof context.triggerMetadata?.messageId === 'string'
      ? context.triggerMetadata.messageId
      : context.invocationId;
  const logger = invocationLogger(context, { messageId });
  const reject = async (
    code: string,
    reason: string,
    details: Record<string, unknown> = {},
  ): Promise<void> => {
    const where = await recordRejection(runtime, {
      id: `cmd-${messageId}`.replace(/[^A-Za-z0-9._-]/g, '_'),
      trigger: 'serviceBus',
      subject: `commands/${messageId}`,
      reason,
      code,
      rejectedAt: new Date().toISOString(),
      details: { deliveryCount: context.triggerMetadata?.deliveryCount, ...details },
    });
    logger.warn(`Command rejected: ${reason} (recorded in ${where})`);
  };
  const checked = parseCommand(message);
  if (!checked.ok) return reject(checked.code, checked.reason, checked.details);
  if (checked.kind === 'export') return handleExportCommand(checked.json, context);
  const command = checked.command;
  let planned;
  try {
    planned = await referencedImport(
      runtime,
      {
        environment: command.environment,
        project: command.definitionGroupId,
        ...(command.legalEntityId ? { legalEntity: command.legalEntityId } : {}),
        ...(command.blobPath ? { blobPath: command.blobPath } : {}),
        ...(command.url ? { url: command.url } : {}),
        ...(command.execute !== undefined ? { execute: command.execute } : {}),
        ...(command.overwrite !== undefined ? { overwrite: command.overwrite } : {}),
        ...(command.correlationId ? { correlationId: command.correlationId } : {}),
        requestId: messageId,
      },
      { trigger: 'serviceBus', now: new Date() },
    );
  } catch (error) {
    if (error instanceof InputError) return reject(error.code, error.message);
    throw error;
  }
  const outcome = await startImport(df.getClient(context), planned.instanceId, planned.input);
  logger.info(
    outcome.started ? `Started import ${outcome.instanceId}` : `Import ${outcome.instanceId} already exists`,
  );
}

app.serviceBusQueue(IMPORT_COMMAND_FUNCTION, {
  queueName: bindingNames().commandsQueue,
  connection: 'ServiceBusConnection',
  extraInputs: [df.input.durableClient()],
  handler: handleImportCommand,
});
