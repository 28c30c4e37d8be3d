/** Service Bus trigger: JSON `import` commands on the commands queue. */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { InputError } from '../shared/errors.js';
import { bindingNames, getRuntime, invocationLogger } from '../activities/runtime.js';
import {
  describeIssues,
  ImportCommandSchema,
  MAX_COMMAND_BYTES,
  recordRejection,
  referencedImport,
  startImport,
} from './starting.js';

/** Name of the Service Bus trigger function. */
export const IMPORT_COMMAND_FUNCTION = 'importCommand';

function bodyText(message: unknown): string {
  if (Buffer.isBuffer(message)) return message.toString('utf8');
  if (message instanceof Uint8Array) return Buffer.from(message).toString('utf8');
  if (typeof message === 'string') return message;
  return JSON.stringify(message) ?? '';
}

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
  const text = bodyText(message);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_COMMAND_BYTES) {
    return reject(
      'COMMAND_TOO_LARGE',
      `The command is ${bytes} bytes; commands are limited to ${MAX_COMMAND_BYTES} bytes. Put the package in blob storage and send its "blobPath" or "url".`,
      { bytes },
    );
  }
  let json: unknown = message;
  if (typeof message === 'string' || Buffer.isBuffer(message) || message instanceof Uint8Array) {
    try {
      json = JSON.parse(text);
    } catch (error) {
      return reject('COMMAND_NOT_JSON', `The command is not JSON: ${(error as Error).message}`);
    }
  }
  const parsed = ImportCommandSchema.safeParse(json);
  if (!parsed.success) {
    return reject('COMMAND_INVALID', `The command is invalid: ${describeIssues(parsed.error)}`);
  }
  const command = parsed.data;
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
