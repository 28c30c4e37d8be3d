/**
 * Inputs refused before any job started (a command, a blob path): recorded in the results container,
 * listed as a `Rejected` job in the job index, published as `…import.rejected` and alerted like a
 * failed job; the source is left alone (the rejected job says where it is).
 */
import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { startAlerts } from '../../activities/common/alerts.js';
import { alertNotice } from '../../shared/alerts/index.js';
import { getRuntime, invocationLogger, type Runtime } from '../../shared/app/runtime.js';
import { NAME_PATTERN } from '../../shared/config/index.js';
import { createCloudEvent, IMPORT_EVENT_TYPES, publishCloudEvent } from '../../shared/events/index.js';
import { commandRejectionId, rejectedJob, type Rejection } from '../../shared/jobs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { printable, recordListedJob, rejectionBlobPath, writeJsonBlob } from '../../shared/storage/index.js';

export type { Rejection };

/**
 * Records a refused input: a JSON file at `rejected/{subject}/{id}.json` in the results container,
 * its `Rejected` job in the job index (never failing the caller), an `…import.rejected` CloudEvent
 * (MessageId = the rejection id) and, with a durable client, the alerts a rejection calls for. The
 * source is left alone.
 * @returns where the JSON was written (`container/path`).
 */
export async function recordRejection(
  runtime: Runtime,
  rejection: Rejection,
  options: { client?: DurableClient; logger?: Logger } = {},
): Promise<string> {
  const { containers, config } = runtime;
  const logger = options.logger ?? runtime.logger;
  const path = rejectionBlobPath(rejection.subject, rejection.id);
  const where = `${containers.results.containerName}/${path}`;
  await writeJsonBlob(containers.results, path, rejection);
  const job = rejectedJob(rejection, where);
  await recordListedJob(runtime.jobIndex, logger, job, rejection.rejectedAt);
  await publishCloudEvent(
    config.serviceBus.connection,
    config.serviceBus.eventsTopic,
    createCloudEvent({
      id: rejection.id,
      type: IMPORT_EVENT_TYPES.rejected,
      subject: rejection.subject,
      time: rejection.rejectedAt,
      data: { ...rejection, rejectionBlob: where },
    }),
  );
  await startAlerts(
    runtime,
    options.client,
    alertNotice(job, { at: rejection.rejectedAt, ...(rejection.source ? { source: rejection.source } : {}) }),
    logger,
  );
  return where;
}

/**
 * What a refused blob path tells about itself, for its rejected job: the environment and project
 * it names (only when they are well-formed names), its file name (escaped) and where it is kept.
 */
export function rejectedBlobFacts(
  container: string,
  path: string,
): Pick<Rejection, 'environment' | 'project' | 'file' | 'source'> {
  const segments = path.split('/');
  const name = (value: string | undefined): string | undefined =>
    value !== undefined && NAME_PATTERN.test(value) ? value : undefined;
  const environment = segments.length > 1 ? name(segments[0]) : undefined;
  const project = segments.length > 2 ? name(segments[1]) : undefined;
  const file = segments[segments.length - 1];
  return {
    ...(environment ? { environment } : {}),
    ...(project ? { project } : {}),
    ...(file ? { file: printable(file) } : {}),
    // shown escaped (an invisible or bidi character must not spoof the page); the record's subject is exact
    source: `${container}/${printable(path, 1024)}`,
  };
}

/** What a command said about the job it asked for, when it got that far (for its rejected job). */
export type CommandFacts = Pick<
  Rejection,
  'kind' | 'environment' | 'project' | 'legalEntity' | 'file' | 'source'
>;

/** What a command handler needs: the message id, a logger and how to refuse the command. */
export interface CommandContext {
  runtime: Runtime;
  /** The Service Bus MessageId (the invocation id when the host gave none). */
  messageId: string;
  logger: Logger;
  /**
   * Records the command as rejected (`commands/{messageId}`) and logs `{what} rejected: …`; `facts`
   * are what the command named (shown on its rejected job).
   */
  reject(
    code: string,
    reason: string,
    details?: Record<string, unknown>,
    facts?: CommandFacts,
  ): Promise<void>;
}

/** The {@link CommandContext} of one delivered command; `what` names it in the log ("Command"). */
export function commandContext(context: InvocationContext, what: string): CommandContext {
  const runtime = getRuntime();
  const messageId =
    typeof context.triggerMetadata?.messageId === 'string'
      ? context.triggerMetadata.messageId
      : context.invocationId;
  const logger = invocationLogger(context, { messageId });
  return {
    runtime,
    messageId,
    logger,
    async reject(code, reason, details, facts) {
      const where = await recordRejection(
        runtime,
        {
          id: commandRejectionId(messageId),
          trigger: 'serviceBus',
          subject: `commands/${messageId}`,
          reason,
          code,
          rejectedAt: new Date().toISOString(),
          ...(details ? { details } : {}),
          ...facts,
        },
        { client: df.getClient(context), logger },
      );
      logger.warn(`${what} rejected: ${reason} (recorded in ${where})`);
    },
  };
}
