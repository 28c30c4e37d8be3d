/**
 * CloudEvents (1.0, structured JSON) the pipeline publishes on the events topic. The Service Bus
 * MessageId is the event id (the job id for completions), so duplicate detection on the topic
 * drops a re-sent event after an activity retry.
 */
import { ServiceBusClient, type ServiceBusMessage, type ServiceBusSender } from '@azure/service-bus';
import { connectionCredential } from '../auth/credential.js';
import type { ServiceBusConnection } from '../config/index.js';

/** Event type prefix. */
export const EVENT_TYPE_PREFIX = 'com.dmf-functions';
/** Event types of the import pipeline. */
export const IMPORT_EVENT_TYPES = {
  /** The import finished with Succeeded or PartiallySucceeded. */
  completed: `${EVENT_TYPE_PREFIX}.import.completed`,
  /** The import finished with Failed, Canceled or TimedOut. */
  failed: `${EVENT_TYPE_PREFIX}.import.failed`,
  /** An input (command, blob path) was refused before any job started. */
  rejected: `${EVENT_TYPE_PREFIX}.import.rejected`,
} as const;
/** Event types of package exports. */
export const EXPORT_EVENT_TYPES = {
  /** A package export finished (Succeeded, PartiallySucceeded) and its package is stored. */
  completed: `${EVENT_TYPE_PREFIX}.export.completed`,
  /** A package export failed, was canceled or timed out. */
  failed: `${EVENT_TYPE_PREFIX}.export.failed`,
} as const;
/** Event types of the recurring integrations. */
export const RECURRING_EVENT_TYPES = {
  /** A recurring export message's file was stored in the outbound container and acked. */
  exportReceived: `${EVENT_TYPE_PREFIX}.recurring.export.received`,
  /** A dequeued message had no file (`IsDownLoadFileExist: false`). */
  exportFileMissing: `${EVENT_TYPE_PREFIX}.recurring.export.fileMissing`,
  /** A recurring import finished with `Processed`. */
  importCompleted: `${EVENT_TYPE_PREFIX}.recurring.import.completed`,
  /** A recurring import finished with errors, was refused or timed out. */
  importFailed: `${EVENT_TYPE_PREFIX}.recurring.import.failed`,
} as const;

/** Event types of chains (one batch through an ordered chain of import projects). */
export const CHAIN_EVENT_TYPES = {
  /** Every step of the chain ran, each Succeeded (or PartiallySucceeded where the chain continues on it). */
  completed: `${EVENT_TYPE_PREFIX}.chain.completed`,
  /** The chain stopped (a step failed, its batch never became complete) or was canceled. */
  failed: `${EVENT_TYPE_PREFIX}.chain.failed`,
} as const;
/** Event types of multi-company exports (one export per legal entity, grouped). */
export const MULTI_COMPANY_EXPORT_EVENT_TYPES = {
  /** Every company's export finished; at least one stored its package. */
  completed: `${EVENT_TYPE_PREFIX}.export.multiCompany.completed`,
  /** No company's export stored a package. */
  failed: `${EVENT_TYPE_PREFIX}.export.multiCompany.failed`,
} as const;

/** `source` attribute of import events (and the default). */
export const EVENT_SOURCE = '/dmf-functions/import';
/** `source` attribute of export events. */
export const EXPORT_EVENT_SOURCE = '/dmf-functions/export';
/** `source` attribute of chain events. */
export const CHAIN_EVENT_SOURCE = '/dmf-functions/chain';
/** `source` attribute of recurring integration events. */
export const RECURRING_EVENT_SOURCE = '/dmf-functions/recurring';
/** Content type of structured CloudEvents. */
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';

/** A structured CloudEvent. */
export interface CloudEvent<T = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject?: string;
  time: string;
  datacontenttype: 'application/json';
  data: T;
}

/** Builds a CloudEvent (source {@link EVENT_SOURCE} unless given). */
export function createCloudEvent<T>(input: {
  id: string;
  type: string;
  source?: string;
  subject?: string;
  time: Date | string;
  data: T;
}): CloudEvent<T> {
  return {
    specversion: '1.0',
    id: input.id,
    source: input.source ?? EVENT_SOURCE,
    type: input.type,
    ...(input.subject !== undefined ? { subject: input.subject } : {}),
    time: typeof input.time === 'string' ? input.time : input.time.toISOString(),
    datacontenttype: 'application/json',
    data: input.data,
  };
}

/** Creates a Service Bus client for the app's connection (connection string or identity). */
export function createServiceBusClient(connection: ServiceBusConnection): ServiceBusClient {
  if (connection.kind === 'connectionString') return new ServiceBusClient(connection.connectionString);
  return new ServiceBusClient(connection.fullyQualifiedNamespace, connectionCredential(connection));
}

interface CachedSender {
  client: ServiceBusClient;
  sender: ServiceBusSender;
}
/** Senders kept for the life of the worker, by connection and topic. */
const senders = new Map<string, CachedSender>();

function senderKey(connection: ServiceBusConnection, topic: string): string {
  const target =
    connection.kind === 'connectionString'
      ? connection.connectionString
      : `${connection.fullyQualifiedNamespace}|${connection.credential ?? ''}|${connection.clientId ?? ''}`;
  return `${target}|${topic}`;
}

/** The sender kept for `connection` + `topic` (created on first use). */
function keptSender(connection: ServiceBusConnection, topic: string): { key: string; cached: CachedSender } {
  const key = senderKey(connection, topic);
  let cached = senders.get(key);
  if (!cached) {
    const client = createServiceBusClient(connection);
    cached = { client, sender: client.createSender(topic) };
    senders.set(key, cached);
  }
  return { key, cached };
}

/** Drops a kept sender after a failed send, so the retry builds a fresh one. */
async function dropSender(key: string, cached: CachedSender): Promise<void> {
  if (senders.get(key) === cached) senders.delete(key);
  await cached.client.close().catch(() => undefined);
}

function toMessage(event: CloudEvent, correlationId: string | undefined): ServiceBusMessage {
  return {
    messageId: event.id,
    body: event,
    contentType: CLOUDEVENTS_CONTENT_TYPE,
    subject: event.type,
    ...(correlationId ? { correlationId } : {}),
    applicationProperties: { 'cloudEvents:type': event.type, 'cloudEvents:id': event.id },
  };
}

/**
 * Sends one CloudEvent to `topic` with MessageId = the event id (duplicate detection drops a resend
 * after an activity retry). The sender is kept for the worker's life: opening an AMQP connection
 * per event would cost more than the event. A send that fails drops the cached sender, so the
 * retry builds a fresh one.
 */
export async function publishCloudEvent(
  connection: ServiceBusConnection,
  topic: string,
  event: CloudEvent,
  options: { abortSignal?: AbortSignal; correlationId?: string } = {},
): Promise<void> {
  const { key, cached } = keptSender(connection, topic);
  try {
    await cached.sender.sendMessages(toMessage(event, options.correlationId), {
      abortSignal: options.abortSignal ?? AbortSignal.timeout(60_000),
    });
  } catch (error) {
    await dropSender(key, cached);
    throw error;
  }
}

/**
 * Sends CloudEvents to `topic` in as few sends as the batch size limit allows (one AMQP transfer
 * per batch instead of one per event), each as {@link publishCloudEvent} would. Order kept. A
 * failure throws after the batches before it were sent: resending them all is safe (duplicate
 * detection by MessageId).
 */
export async function publishCloudEvents(
  connection: ServiceBusConnection,
  topic: string,
  events: readonly { event: CloudEvent; correlationId?: string }[],
  options: { abortSignal?: AbortSignal } = {},
): Promise<void> {
  if (events.length === 0) return;
  const { key, cached } = keptSender(connection, topic);
  const abortSignal = options.abortSignal ?? AbortSignal.timeout(60_000);
  try {
    let batch = await cached.sender.createMessageBatch({ abortSignal });
    for (const { event, correlationId } of events) {
      const message = toMessage(event, correlationId);
      if (batch.tryAddMessage(message)) continue;
      if (batch.count === 0) throw new Error(`event ${event.id} is larger than a Service Bus message may be`);
      await cached.sender.sendMessages(batch, { abortSignal });
      batch = await cached.sender.createMessageBatch({ abortSignal });
      if (!batch.tryAddMessage(message)) {
        throw new Error(`event ${event.id} is larger than a Service Bus message may be`);
      }
    }
    if (batch.count > 0) await cached.sender.sendMessages(batch, { abortSignal });
  } catch (error) {
    await dropSender(key, cached);
    throw error;
  }
}

/** Closes every kept sender (the app's `appTerminate` hook; tests). */
export async function closeEventSenders(): Promise<void> {
  const all = [...senders.values()];
  senders.clear();
  await Promise.all(all.map((c) => c.client.close().catch(() => undefined)));
}
