/**
 * AMQP vocabulary the broker's parts share: Service Bus annotation names and error conditions,
 * addresses of the request/response nodes, message copy/decode helpers, the lock-token byte order,
 * and the rhea internals the broker reaches into (typed here once).
 */
import rhea from 'rhea';
import type { Delivery, Message } from 'rhea';

/** Message format of a batched transfer (`sendMessages([...])`): data sections holding encoded messages. */
export const BATCH_MESSAGE_FORMAT = 0x80013700;
/** Suffix of an entity's management node address. */
export const MANAGEMENT_SUFFIX = '/$management';
/** Address of the claims-based security node (put-token). */
export const CBS_ADDRESS = '$cbs';

export const ANN_ENQUEUED_TIME = 'x-opt-enqueued-time';
export const ANN_SEQUENCE_NUMBER = 'x-opt-sequence-number';
export const ANN_ENQUEUE_SEQUENCE_NUMBER = 'x-opt-enqueue-sequence-number';
export const ANN_LOCKED_UNTIL = 'x-opt-locked-until';
export const ANN_SCHEDULED_ENQUEUE_TIME = 'x-opt-scheduled-enqueue-time';
export const ANN_DEADLETTER_SOURCE = 'x-opt-deadletter-source';
export const ANN_MESSAGE_STATE = 'x-opt-message-state';

export const CONDITION_NOT_FOUND = 'amqp:not-found';
export const CONDITION_NOT_IMPLEMENTED = 'amqp:not-implemented';
export const CONDITION_LOCK_LOST = 'com.microsoft:message-lock-lost';
export const CONDITION_DEAD_LETTER = 'com.microsoft:dead-letter';
/** Service Bus's text for a settlement or renewal with a lock that is gone. */
export const LOCK_LOST_DESCRIPTION =
  'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.';

/** rhea internals used for credit accounting and the drain handshake (not in its typings). */
export interface SenderInternals {
  credit: number;
  delivery_count: number;
  _draining: boolean;
  _drained: boolean;
  _get_drain: () => boolean;
  local: { attach: Record<string, unknown> };
  connection: { _register(): void };
  session: { outgoing: { available(): number } };
}

export interface ReceiverInternals {
  local: { attach: Record<string, unknown> };
}

export interface BodySection {
  typecode: number;
  content: unknown;
  multiple?: boolean;
}

export function isBodySection(value: unknown): value is BodySection {
  return typeof value === 'object' && value !== null && 'typecode' in value && 'content' in value;
}

/** The SDK turns the 16-byte delivery tag into a GUID string with .NET byte order; this swap is its own inverse. */
export function reorderGuidBytes(bytes: Buffer): Buffer {
  if (bytes.length !== 16) return bytes;
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Buffer.from(order.map((i) => bytes[i] ?? 0));
}

export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  if (value instanceof Date) return value.getTime();
  return undefined;
}

export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)
    ? (value as Record<string, unknown>)
    : {};
}

export function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) return value as unknown[];
  return value === undefined || value === null ? [] : [value];
}

/** Decodes a body like the SDK's default data transformer, for inspection only. */
export function decodeBody(body: unknown): unknown {
  if (!isBodySection(body)) return body;
  if (body.typecode === 0x75 && Buffer.isBuffer(body.content)) {
    try {
      return JSON.parse(body.content.toString('utf8')) as unknown;
    } catch {
      return body.content;
    }
  }
  return body.content;
}

export function cloneMessage(message: Message): Message {
  const copy: Message = Object.assign(
    Object.create(Object.getPrototypeOf(message) as object) as Message,
    message,
  );
  if (message.application_properties) copy.application_properties = { ...message.application_properties };
  if (message.message_annotations) copy.message_annotations = { ...message.message_annotations };
  return copy;
}

export function normaliseAddress(address: unknown): string {
  let value = typeof address === 'string' ? address : '';
  // Accept fully qualified addresses (sb://host:port/entity) as well as bare entity paths.
  const qualified = /^[a-z]+:\/\/[^/]+\/(.*)$/i.exec(value);
  if (qualified) value = qualified[1] ?? '';
  return value.replace(/^\/+/, '').replace(/\/+$/, '');
}

export function outcomeType(delivery: Delivery): string | undefined {
  const state = delivery.remote_state as { constructor?: { composite_type?: string } } | undefined;
  return state?.constructor?.composite_type;
}

export function decodeMessage(bytes: Buffer): Message {
  return rhea.message.decode(bytes) as unknown as Message;
}

/**
 * Lets rhea drop a delivery the broker has just settled. With receiver-settle-mode "second" the
 * client settles silently after our settled disposition, so rhea would otherwise keep every
 * delivery and overflow its 2048-entry session buffer. The disposition is already queued.
 */
export function forgetSettled(delivery: Delivery): void {
  (delivery as unknown as { remote_settled: boolean }).remote_settled = true;
}

export const outcomes = rhea.message as unknown as {
  accepted(): { described(): unknown };
  rejected(fields: { error: { condition: string; description: string } }): { described(): unknown };
};
