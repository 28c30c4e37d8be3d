/**
 * The Service Bus `export` command. Commands share one queue with `import`; only one trigger may
 * listen on it, so this module exports the handler the command trigger dispatches to
 * (`type: "export"`, src/functions/imports/command.ts) instead of registering a second, competing trigger.
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { NAME_PATTERN } from '../../shared/config/index.js';
import { InputError } from '../../shared/errors.js';
import { exportCommandRequestId } from '../../shared/jobs/index.js';
import { describeIssues } from '../../shared/util.js';
import { commandContext } from '../common/rejections.js';
import { ExportCommandSchema, plannedExportJob, startPlannedExport } from './starting.js';

/**
 * Handles a parsed `export` command: starts one export per message (instance id from the MessageId,
 * so a redelivery is a no-op). An invalid command is recorded as rejected and completed.
 */
export async function handleExportCommand(json: unknown, context: InvocationContext): Promise<void> {
  const command = commandContext(context, 'Export command');
  const parsed = ExportCommandSchema.safeParse(json);
  if (!parsed.success)
    return command.reject(
      'COMMAND_INVALID',
      `The command is invalid: ${describeIssues(parsed.error)}`,
      undefined,
      { kind: 'export' },
    );
  const { environment, definitionGroupId, type: _type, ...options } = parsed.data;
  let planned;
  try {
    planned = plannedExportJob(
      command.runtime.config,
      {
        environment,
        project: definitionGroupId,
        requestId: exportCommandRequestId(command.messageId),
        ...options,
      },
      { trigger: 'serviceBus', now: new Date() },
    );
  } catch (error) {
    if (error instanceof InputError)
      return command.reject(error.code, error.message, undefined, {
        kind: 'export',
        environment,
        ...(NAME_PATTERN.test(definitionGroupId) ? { project: definitionGroupId } : {}),
        ...(options.legalEntityId ? { legalEntity: options.legalEntityId } : {}),
      });
    throw error;
  }
  const outcome = await startPlannedExport(df.getClient(context), planned);
  command.logger.info(
    outcome.started ? `Started export ${outcome.instanceId}` : `Export ${outcome.instanceId} already exists`,
  );
}
