/**
 * Service Bus trigger of the commands queue: JSON commands, `import` handled here, `export`
 * dispatched to src/functions/exports/command.ts (only one trigger may listen on the queue).
 */
import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { bindingNames } from '../../shared/app/runtime.js';
import { NAME_PATTERN } from '../../shared/config/index.js';
import { InputError } from '../../shared/errors.js';
import { printable } from '../../shared/storage/index.js';
import { describeIssues, isRecord } from '../../shared/util.js';
import { commandContext, type CommandFacts } from '../common/rejections.js';
import { handleExportCommand } from '../exports/command.js';
import { ImportCommandSchema, referencedImport, startImport, type ImportCommand } from './starting.js';

/** Name of the Service Bus trigger function (it predates export commands). */
export const IMPORT_COMMAND_FUNCTION = 'importCommand';

/** Largest command accepted (the Service Bus standard tier limit). */
export const MAX_COMMAND_BYTES = 256 * 1024;

/** The text of a message body as the host delivers it (bytes, string or parsed JSON). */
export function bodyText(message: unknown): string {
  if (Buffer.isBuffer(message)) return message.toString('utf8');
  if (message instanceof Uint8Array) return Buffer.from(message).toString('utf8');
  if (typeof message === 'string') return message;
  return JSON.stringify(message) ?? '';
}

/** Outcome of {@link parseCommand}. */
export type ParsedCommand =
  | { ok: true; kind: 'import'; command: ImportCommand }
  /** An `export` command: validated by the export handler the trigger dispatches to. */
  | { ok: true; kind: 'export'; json: unknown }
  | { ok: false; code: string; reason: string; details?: Record<string, unknown> };

/**
 * Checks a message body: at most {@link MAX_COMMAND_BYTES}, JSON, a valid `import` command (an
 * `export` command is passed through for the export handler).
 * Every refusal carries a sentence a person can act on.
 */
export function parseCommand(message: unknown): ParsedCommand {
  const text = bodyText(message);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_COMMAND_BYTES) {
    return {
      ok: false,
      code: 'COMMAND_TOO_LARGE',
      reason: `The command is ${bytes} bytes; commands are limited to ${MAX_COMMAND_BYTES} bytes. Put the package in blob storage and send its "blobPath" or "url".`,
      details: { bytes },
    };
  }
  let json: unknown = message;
  if (typeof message === 'string' || Buffer.isBuffer(message) || message instanceof Uint8Array) {
    try {
      json = JSON.parse(text);
    } catch (error) {
      return {
        ok: false,
        code: 'COMMAND_NOT_JSON',
        reason: `The command is not JSON: ${(error as Error).message}`,
      };
    }
  }
  if (isRecord(json) && json.type === 'export') {
    return { ok: true, kind: 'export', json };
  }
  const parsed = ImportCommandSchema.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      code: 'COMMAND_INVALID',
      reason: `The command is invalid: ${describeIssues(parsed.error)}`,
    };
  }
  return { ok: true, kind: 'import', command: parsed.data };
}

/**
 * Handles one command. An invalid command is recorded as rejected (results container + event) and
 * completed — never retried; only infrastructure failures throw (and are redelivered).
 */
export async function handleImportCommand(message: unknown, context: InvocationContext): Promise<void> {
  const command = commandContext(context, 'Command');
  const reject = (
    code: string,
    reason: string,
    details: Record<string, unknown> = {},
    facts: CommandFacts = { kind: 'import' },
  ): Promise<void> =>
    command.reject(
      code,
      reason,
      { deliveryCount: context.triggerMetadata?.deliveryCount, ...details },
      facts,
    );
  const checked = parseCommand(message);
  if (!checked.ok) return reject(checked.code, checked.reason, checked.details);
  if (checked.kind === 'export') return handleExportCommand(checked.json, context);
  const body = checked.command;
  const named = body.blobPath ?? (body.url ? new URL(body.url).pathname : undefined);
  const facts: CommandFacts = {
    kind: 'import',
    environment: body.environment,
    ...(NAME_PATTERN.test(body.definitionGroupId) ? { project: body.definitionGroupId } : {}),
    ...(body.legalEntityId ? { legalEntity: body.legalEntityId } : {}),
    ...(named ? { file: printable(named.slice(named.lastIndexOf('/') + 1)) } : {}),
    // a url's query is a secret: only a blob the command named is a source the app can point to
    ...(body.blobPath ? { source: printable(body.blobPath, 1024) } : {}),
  };
  let planned;
  try {
    planned = await referencedImport(
      command.runtime,
      {
        environment: body.environment,
        project: body.definitionGroupId,
        ...(body.legalEntityId ? { legalEntity: body.legalEntityId } : {}),
        ...(body.blobPath ? { blobPath: body.blobPath } : {}),
        ...(body.url ? { url: body.url } : {}),
        ...(body.execute !== undefined ? { execute: body.execute } : {}),
        ...(body.overwrite !== undefined ? { overwrite: body.overwrite } : {}),
        ...(body.correlationId ? { correlationId: body.correlationId } : {}),
        requestId: command.messageId,
      },
      { trigger: 'serviceBus', now: new Date() },
    );
  } catch (error) {
    if (error instanceof InputError) return reject(error.code, error.message, {}, facts);
    throw error;
  }
  if (planned.kind === 'finished') {
    // a late duplicate: the file was imported (and archived) by that job — nothing to do, no rejection
    command.logger.info(
      `The file was already imported by job ${planned.instanceId} (${planned.status}); nothing started`,
    );
    return;
  }
  const outcome = await startImport(df.getClient(context), planned.instanceId, planned.input, {
    ...(planned.beforeStart ? { beforeStart: planned.beforeStart } : {}),
  });
  command.logger.info(
    outcome.started ? `Started import ${outcome.instanceId}` : `Import ${outcome.instanceId} already exists`,
  );
}

app.serviceBusQueue(IMPORT_COMMAND_FUNCTION, {
  queueName: bindingNames().commandsQueue,
  connection: 'ServiceBusConnection',
  extraInputs: [df.input.durableClient()],
  handler: handleImportCommand,
});
