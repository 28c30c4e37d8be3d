/**
 * Inputs refused before any job started (a command, a blob path): recorded in the results container
 * and published as `…import.rejected`; the source is left alone.
 */
import type { InvocationContext } from '@azure/functions';
import { getRuntime, invocationLogger, type Runtime } from '../../shared/app/runtime.js';
import { createCloudEvent, IMPORT_EVENT_TYPES, publishCloudEvent } from '../../shared/events/index.js';
import type { Logger } from '../../shared/log/index.js';
import { rejectionBlobPath, writeJsonBlob } from '../../shared/storage/index.js';

/** A refused input, as recorded in the results container and published as `…import.rejected`. */
export interface Rejection {
  /** Id of the rejection (the MessageId, or a hash of the blob path and version). */
  id: string;
  trigger: 'blob' | 'serviceBus' | 'http';
  /** What was refused: the blob path, or `commands/{messageId}`. */
  subject: string;
  /** Why, in a sentence a person can act on. */
  reason: string;
  code: string;
  rejectedAt: string;
  /** Extra facts (message size, delivery count, …). */
  details?: Record<string, unknown>;
}

/**
 * Records a refused input: a JSON file at `rejected/{subject}/{id}.json` in the results container
 * and an `…import.rejected` CloudEvent (MessageId = the rejection id). The source is left alone.
 * @returns where the JSON was written (`container/path`).
 */
export async function recordRejection(runtime: Runtime, rejection: Rejection): Promise<string> {
  const { containers, config } = runtime;
  const path = rejectionBlobPath(rejection.subject, rejection.id);
  await writeJsonBlob(containers.results, path, rejection);
  await publishCloudEvent(
    config.serviceBus.connection,
    config.serviceBus.eventsTopic,
    createCloudEvent({
      id: rejection.id,
      type: IMPORT_EVENT_TYPES.rejected,
      subject: rejection.subject,
      time: rejection.rejectedAt,
      data: { ...rejection, rejectionBlob: `${containers.results.containerName}/${path}` },
    }),
  );
  return `${containers.results.containerName}/${path}`;
}

/** What a command handler needs: the message id, a logger and how to refuse the command. */
export interface CommandContext {
  runtime: Runtime;
  /** The Service Bus MessageId (the invocation id when the host gave none). */
  messageId: string;
  logger: Logger;
  /** Records the command as rejected (`commands/{messageId}`) and logs `{what} rejected: …`. */
  reject(code: string, reason: string, details?: Record<string, unknown>): Promise<void>;
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
    async reject(code, reason, details) {
      const where = await recordRejection(runtime, {
        id: `cmd-${messageId}`.replace(/[^A-Za-z0-9._-]/g, '_'),
        trigger: 'serviceBus',
        subject: `commands/${messageId}`,
        reason,
        code,
        rejectedAt: new Date().toISOString(),
        ...(details ? { details } : {}),
      });
      logger.warn(`${what} rejected: ${reason} (recorded in ${where})`);
    },
  };
}
