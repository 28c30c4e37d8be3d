/**
 * The Service Bus `export` command. Commands share one queue with `import`; only one trigger may
 * listen on it, so this module exports the handler the command trigger dispatches to
 * (`type: "export"`, src/functions/imports/command.ts) instead of registering a second, competing trigger.
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { InputError } from '../../shared/errors.js';
import { describeIssues } from '../../shared/util.js';
import { commandContext } from '../common/rejections.js';
import { ExportCommandSchema, plannedExport, startExportJob } from './starting.js';

/**
 * Handles a parsed `export` command: starts one export per message (instance id from the MessageId,
 * so a redelivery is a no-op). An invalid command is recorded as rejected and completed.
 */
export async function handleExportCommand(json: unknown, context: InvocationContext): Promise<void> {
  const command = commandContext(context, 'Export command');
  const parsed = ExportCommandSchema.safeParse(json);
  if (!parsed.success)
    return command.reject('COMMAND_INVALID', `The command is invalid: ${describeIssues(parsed.error)}`);
  const { environment, definitionGroupId, type: _type, ...options } = parsed.data;
  let planned;
  try {
    planned = plannedExport(
      command.runtime.config,
      { environment, project: definitionGroupId, requestId: `command:${command.messageId}`, ...options },
      { trigger: 'serviceBus', now: new Date() },
    );
  } catch (error) {
    if (error instanceof InputError) return command.reject(error.code, error.message);
    throw error;
  }
  const outcome = await startExportJob(df.getClient(context), planned.instanceId, planned.input);
  command.logger.info(
    outcome.started ? `Started export ${outcome.instanceId}` : `Export ${outcome.instanceId} already exists`,
  );
}
