/**
 * The Service Bus `export` command. Commands share one queue with `import`; only one trigger may
 * listen on it, so this module exports the handler for the command trigger to dispatch to
 * (`type: "export"`) instead of registering a second, competing trigger.
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { InputError } from '../shared/errors.js';
import { getRuntime, invocationLogger } from '../activities/runtime.js';
import { describeIssues, recordRejection } from './starting.js';
import { ExportCommandSchema, plannedExport, startExportJob } from './exportStarting.js';

/** True when a parsed command body is an export command (for the command trigger's dispatch). */
export function isExportCommand(json: unknown): boolean {
  return json !== null && typeof json === 'object' && (json as { type?: unknown }).type === 'export';
}

/**
 * Handles a parsed `export` command: starts one export per message (instance id from the MessageId,
 * so a redelivery is a no-op). An invalid command is recorded as rejected and completed.
 */
export async function handleExportCommand(json: unknown, context: InvocationContext): Promise<void> {
  const runtime = getRuntime();
  const messageId =
    typeof context.triggerMetadata?.messageId === 'string'
      ? context.triggerMetadata.messageId
      : context.invocationId;
  const logger = invocationLogger(context, { messageId });
  const reject = async (code: string, reason: string): Promise<void> => {
    const where = await recordRejection(runtime, {
      id: `cmd-${messageId}`.replace(/[^A-Za-z0-9._-]/g, '_'),
      trigger: 'serviceBus',
      subject: `commands/${messageId}`,
      reason,
      code,
      rejectedAt: new Date().toISOString(),
    });
    logger.warn(`Export command rejected: ${reason} (recorded in ${where})`);
  };
  const parsed = ExportCommandSchema.safeParse(json);
  if (!parsed.success)
    return reject('COMMAND_INVALID', `The command is invalid: ${describeIssues(parsed.error)}`);
  const { environment, definitionGroupId, type: _type, ...options } = parsed.data;
  let planned;
  try {
    planned = plannedExport(
      runtime.config,
      { environment, project: definitionGroupId, requestId: `command:${messageId}`, ...options },
      { trigger: 'serviceBus', now: new Date() },
    );
  } catch (error) {
    if (error instanceof InputError) return reject(error.code, error.message);
    throw error;
  }
  const outcome = await startExportJob(df.getClient(context), planned.instanceId, planned.input);
  logger.info(
    outcome.started ? `Started export ${outcome.instanceId}` : `Export ${outcome.instanceId} already exists`,
  );
}
