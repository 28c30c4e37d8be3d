import { randomUUID } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import rhea from 'rhea';
import type { Connection, Delivery, EventContext, Message, Receiver, Sender } from 'rhea';
import { DevhostError, InputError } from '../errors.js';
import { systemClock, type BrokerClock, type BrokerTimer } from './clock.js';
import {
  DEFAULT_SERVICE_BUS_CONFIG,
  loadBrokerConfig,
  parseBrokerConfig,
  type BrokerConfig,
  type DuplicateDetectionProperties,
  type EntityProperties,
  type ParsedBrokerConfig,
  type SubscriptionRule,
} from './config.js';

/** Shared access key name put in the broker's connection string (the emulator's well-known one). */
export const EMULATOR_KEY_NAME = 'RootManageSharedAccessKey';
/** Placeholder key of the emulator's documented connection string; the broker accepts any token. */
export const EMULATOR_KEY_VALUE = 'SAS_KEY_VALUE';
/** Largest message the broker accepts, as the Standard tier and the emulator (256 KiB). */
export const MAX_MESSAGE_SIZE_BYTES = 256 * 1024;
/** Address suffix of an entity's dead-letter queue. */
export const DEAD_LETTER_QUEUE_SUFFIX = '$DeadLetterQueue';

const BATCH_MESSAGE_FORMAT = 0x80013700;
const STOP_GRACE_MS = 1000;
const MANAGEMENT_SUFFIX = '/$management';
const CBS_ADDRESS = '$cbs';

const ANN_ENQUEUED_TIME = 'x-opt-enqueued-time';
const ANN_SEQUENCE_NUMBER = 'x-opt-sequence-number';
const ANN_ENQUEUE_SEQUENCE_NUMBER = 'x-opt-enqueue-sequence-number';
const ANN_LOCKED_UNTIL = 'x-opt-locked-until';
const ANN_SCHEDULED_ENQUEUE_TIME = 'x-opt-scheduled-enqueue-time';
const ANN_DEADLETTER_SOURCE = 'x-opt-deadletter-source';
const ANN_MESSAGE_STATE = 'x-opt-message-state';

const CONDITION_NOT_FOUND = 'amqp:not-found';
const CONDITION_NOT_IMPLEMENTED = 'amqp:not-implemented';
const CONDITION_LOCK_LOST = 'com.microsoft:message-lock-lost';
const CONDITION_DEAD_LETTER = 'com.microsoft:dead-letter';

/** Options for {@link startServiceBusBroker}. */
export interface StartServiceBusBrokerOptions {
  /** Config file path or an already-built config object. Default: `devhost/servicebus/config.json`. */
  config?: string | BrokerConfig;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 0. */
  port?: number;
  /** Time source for locks, scheduled messages and expiry. Default the system clock. */
  clock?: BrokerClock;
}

/** Counts for one entity, as the broker sees them right now. */
export interface EntitySnapshot {
  /** Entity path: `queue`, `topic` or `topic/Subscriptions/sub`. */
  path: string;
  kind: 'queue' | 'topic' | 'subscription';
  /** Messages ready to be delivered. */
  activeMessageCount: number;
  /** Messages delivered in peek-lock mode whose lock has not ended. */
  lockedMessageCount: number;
  /** Messages deferred by a receiver (not delivered again by the broker). */
  deferredMessageCount: number;
  /** Messages waiting for their scheduled enqueue time (for topics: before fan-out). */
  scheduledMessageCount: number;
  /** Messages in the entity's dead-letter queue (0 for topics). */
  deadLetterMessageCount: number;
  /** Receiver links currently attached. */
  receiverCount: number;
}

/** A message in a dead-letter queue, for inspection. */
export interface DeadLetteredMessage {
  messageId: unknown;
  sequenceNumber: number;
  /** Body decoded like the SDK does: JSON if the data section parses, else the raw Buffer. */
  body: unknown;
  deadLetterReason: string | undefined;
  deadLetterErrorDescription: string | undefined;
  /** Entity the message was dead-lettered from. */
  deadLetterSource: string;
  applicationProperties: Record<string, unknown>;
  /** How many times the message had been delivered before it was dead-lettered. */
  deliveryCount: number;
}

/** A running in-process broker. */
export interface ServiceBusBroker {
  /** `Endpoint=sb://HOST:PORT;…;UseDevelopmentEmulator=true`, usable by `@azure/service-bus`. */
  connectionString: string;
  /** Port the broker listens on. */
  port: number;
  /** Host the broker listens on. */
  host: string;
  /** Counts for every queue, topic and subscription. */
  entities(): EntitySnapshot[];
  /** Messages in the dead-letter queue of a queue or `topic/Subscriptions/sub`. */
  deadLetters(entityPath: string): DeadLetteredMessage[];
  /** AMQP connections clients have open now (shows whether a client reuses its connection). */
  openConnections(): number;
  /** Closes every client connection and the listener; never waits longer than about a second. */
  stop(): Promise<void>;
}

/** The broker could not start (bad config, port in use). */
export class ServiceBusBrokerError extends DevhostError {}

interface Lock {
  /** Hex of the delivery tag; the SDK's lock token is this GUID with .NET byte order. */
  key: string;
  until: number;
  timer: BrokerTimer;
  entity: Entity;
  stored: StoredMessage;
}

interface StoredMessage {
  seq: number;
  message: Message;
  enqueuedAt: number;
  expiresAt: number | undefined;
  /** Deliveries in peek-lock mode so far; header delivery-count is this minus one at delivery. */
  attempts: number;
  state: 'active' | 'locked' | 'deferred';
  /** Set once a receiver deferred it: only receive-by-sequence-number hands it out again. */
  deferred: boolean;
  lock: Lock | undefined;
  /** Fires at `expiresAt`; cancelled when the message leaves the entity, so timers never pile up. */
  expiryTimer: BrokerTimer | undefined;
}

interface Consumer {
  link: Sender;
  entity: Entity;
  receiveAndDelete: boolean;
  /** Deliveries handed to rhea on this link, to compute remaining credit before rhea's own count catches up. */
  sent: number;
}

/** rhea internals used for credit accounting and the drain handshake (not in its typings). */
interface SenderInternals {
  credit: number;
  delivery_count: number;
  _draining: boolean;
  _drained: boolean;
  _get_drain: () => boolean;
  local: { attach: Record<string, unknown> };
  connection: { _register(): void };
  session: { outgoing: { available(): number } };
}

interface ReceiverInternals {
  local: { attach: Record<string, unknown> };
}

interface Entity {
  path: string;
  kind: 'queue' | 'subscription' | 'deadletter';
  maxDeliveryCount: number;
  lockDurationMs: number;
  deadLetterOnExpiration: boolean;
  ttlMs: number | undefined;
  deadLetter: Entity | undefined;
  rules: SubscriptionRule[];
  messages: StoredMessage[];
  consumers: Consumer[];
  roundRobin: number;
  duplicates: DuplicateHistory | undefined;
}

interface Topic {
  path: string;
  kind: 'topic';
  ttlMs: number | undefined;
  subscriptions: Entity[];
  duplicates: DuplicateHistory | undefined;
}

interface DuplicateHistory {
  windowMs: number;
  /** MessageId → when it was first accepted and the sequence number it got. */
  seen: Map<string, { at: number; seq: number }>;
}

type SendTarget = Entity | Topic;

interface ScheduledMessage {
  seq: number;
  target: SendTarget;
  message: Message;
  due: number;
  timer: BrokerTimer;
}

interface BodySection {
  typecode: number;
  content: unknown;
  multiple?: boolean;
}

type ManagementResponse = {
  status: number;
  description?: string;
  condition?: string;
  body?: unknown;
};

function duplicateHistory(props: DuplicateDetectionProperties): DuplicateHistory | undefined {
  return props.RequiresDuplicateDetection
    ? { windowMs: props.DuplicateDetectionHistoryTimeWindow, seen: new Map() }
    : undefined;
}

function isBodySection(value: unknown): value is BodySection {
  return typeof value === 'object' && value !== null && 'typecode' in value && 'content' in value;
}

/** The SDK turns the 16-byte delivery tag into a GUID string with .NET byte order; this swap is its own inverse. */
function reorderGuidBytes(bytes: Buffer): Buffer {
  if (bytes.length !== 16) return bytes;
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Buffer.from(order.map((i) => bytes[i] ?? 0));
}

function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value) && value.length === 8) return Number(value.readBigInt64BE(0));
  if (value instanceof Date) return value.getTime();
  return undefined;
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)
    ? (value as Record<string, unknown>)
    : {};
}

function asArray(value: unknown): unknown[] {
  if (Array.isArray(value)) return value as unknown[];
  return value === undefined || value === null ? [] : [value];
}

/** Decodes a body like the SDK's default data transformer, for inspection only. */
function decodeBody(body: unknown): unknown {
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

function cloneMessage(message: Message): Message {
  const copy: Message = Object.assign(
    Object.create(Object.getPrototypeOf(message) as object) as Message,
    message,
  );
  if (message.application_properties) copy.application_properties = { ...message.application_properties };
  if (message.message_annotations) copy.message_annotations = { ...message.message_annotations };
  return copy;
}

function normaliseAddress(address: unknown): string {
  let value = typeof address === 'string' ? address : '';
  // Accept fully qualified addresses (sb://host:port/entity) as well as bare entity paths.
  const qualified = /^[a-z]+:\/\/[^/]+\/(.*)$/i.exec(value);
  if (qualified) value = qualified[1] ?? '';
  return value.replace(/^\/+/, '').replace(/\/+$/, '');
}

function outcomeType(delivery: Delivery): string | undefined {
  const state = delivery.remote_state as { constructor?: { composite_type?: string } } | undefined;
  return state?.constructor?.composite_type;
}

function decodeMessage(bytes: Buffer): Message {
  return rhea.message.decode(bytes) as unknown as Message;
}

/**
 * Lets rhea drop a delivery the broker has just settled. With receiver-settle-mode "second" the
 * client settles silently after our settled disposition, so rhea would otherwise keep every
 * delivery and overflow its 2048-entry session buffer. The disposition is already queued.
 */
function forgetSettled(delivery: Delivery): void {
  (delivery as unknown as { remote_settled: boolean }).remote_settled = true;
}

const outcomes = rhea.message as unknown as {
  accepted(): { described(): unknown };
  rejected(fields: { error: { condition: string; description: string } }): { described(): unknown };
};

/** The broker state machine plus its AMQP front end. */
class Broker {
  private readonly queues = new Map<string, Entity>();
  private readonly topics = new Map<string, Topic>();
  /** Every addressable receive entity (queues, subscriptions, dead-letter queues) by lower-cased path. */
  private readonly receivable = new Map<string, Entity>();
  private readonly locks = new Map<string, Lock>();
  private readonly deliveryLocks = new WeakMap<Delivery, Lock>();
  private readonly scheduled = new Map<number, ScheduledMessage>();
  private readonly expiryTimers = new Set<BrokerTimer>();
  private readonly replyLinks = new Map<Connection, Set<Sender>>();
  private readonly connections = new Set<Connection>();
  private readonly sockets = new Set<Socket>();
  private nextSequenceNumber = 1;
  private stopped = false;
  private server: Server | undefined;

  constructor(
    config: ParsedBrokerConfig,
    private readonly clock: BrokerClock,
  ) {
    const ns = config.UserConfig.Namespaces[0];
    for (const q of ns?.Queues ?? []) {
      const entity = this.createEntity(q.Name, 'queue', q.Properties, []);
      entity.duplicates = duplicateHistory(q.Properties);
      this.queues.set(q.Name.toLowerCase(), entity);
    }
    for (const t of ns?.Topics ?? []) {
      const topic: Topic = {
        path: t.Name,
        kind: 'topic',
        ttlMs: t.Properties.DefaultMessageTimeToLive,
        subscriptions: [],
        duplicates: duplicateHistory(t.Properties),
      };
      for (const s of t.Subscriptions) {
        topic.subscriptions.push(
          this.createEntity(`${t.Name}/Subscriptions/${s.Name}`, 'subscription', s.Properties, s.Rules),
        );
      }
      this.topics.set(t.Name.toLowerCase(), topic);
    }
  }

  private createEntity(
    path: string,
    kind: 'queue' | 'subscription',
    props: EntityProperties,
    rules: SubscriptionRule[],
  ): Entity {
    const base = {
      duplicates: undefined,
      lockDurationMs: props.LockDuration,
      messages: [],
      consumers: [],
      roundRobin: 0,
      rules: [],
      deadLetterOnExpiration: false,
      ttlMs: undefined,
    };
    const deadLetter: Entity = {
      ...base,
      path: `${path}/${DEAD_LETTER_QUEUE_SUFFIX}`,
      kind: 'deadletter',
      maxDeliveryCount: Number.POSITIVE_INFINITY,
      deadLetter: undefined,
    };
    const entity: Entity = {
      ...base,
      messages: [],
      consumers: [],
      path,
      kind,
      maxDeliveryCount: props.MaxDeliveryCount,
      deadLetterOnExpiration: props.DeadLetteringOnMessageExpiration,
      ttlMs: props.DefaultMessageTimeToLive,
      deadLetter,
      rules,
    };
    this.receivable.set(path.toLowerCase(), entity);
    this.receivable.set(deadLetter.path.toLowerCase(), deadLetter);
    return entity;
  }

  // ---------------------------------------------------------------- lifecycle

  async listen(host: string, port: number): Promise<number> {
    const container = rhea.create_container({
      id: `dmf-servicebus-broker-${randomUUID()}`,
      // Sends are accepted or rejected explicitly once the broker has looked at them.
      autoaccept: false,
      // Abandon (modified) and release are different outcomes here; keep rhea from merging them.
      treat_modified_as_released: false,
    });
    container.on('connection_open', (ctx: EventContext) => {
      this.connections.add(ctx.connection);
    });
    container.on('disconnected', (ctx: EventContext) => this.onConnectionGone(ctx.connection));
    container.on('connection_close', (ctx: EventContext) => this.onConnectionGone(ctx.connection));
    // Without listeners rhea rethrows peer errors on the container and crashes the process.
    container.on('connection_error', () => undefined);
    container.on('session_error', () => undefined);
    container.on('sender_error', () => undefined);
    container.on('receiver_error', () => undefined);
    container.on('protocol_error', () => undefined);
    container.on('error', () => undefined);
    container.on('sender_open', (ctx: EventContext) => {
      if (ctx.sender) this.onClientReceiverAttached(ctx.sender, ctx.connection);
    });
    container.on('receiver_open', (ctx: EventContext) => {
      if (ctx.receiver) this.onClientSenderAttached(ctx.receiver, ctx.connection);
    });
    container.on('sender_close', (ctx: EventContext) => {
      if (ctx.sender) this.detachSender(ctx.sender, ctx.connection);
    });

    const server = container.listen({ host, port });
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', (error) =>
        reject(
          new ServiceBusBrokerError(`Service Bus broker cannot listen on ${host}:${port}: ${error.message}`, {
            code: 'SERVICEBUS_BROKER_LISTEN',
            cause: error,
          }),
        ),
      );
    });
    const address = server.address();
    if (address === null || typeof address === 'string') {
      throw new ServiceBusBrokerError('Service Bus broker has no TCP address', {
        code: 'SERVICEBUS_BROKER_LISTEN',
      });
    }
    return address.port;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const lock of this.locks.values()) lock.timer.cancel();
    this.locks.clear();
    for (const s of this.scheduled.values()) s.timer.cancel();
    this.scheduled.clear();
    for (const timer of this.expiryTimers) timer.cancel();
    this.expiryTimers.clear();
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const connection of this.connections) {
      try {
        connection.close({ condition: 'amqp:connection:forced', description: 'The broker is stopping.' });
      } catch {
        // The socket may already be gone; it is destroyed below anyway.
      }
    }
    // Give clients a moment to answer the close, then cut whatever is left so stop() never hangs.
    const socketsClosed = Promise.all(
      [...this.sockets].map(
        (socket) => new Promise<void>((resolve) => socket.once('close', () => resolve())),
      ),
    );
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      socketsClosed,
      new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(graceTimer);
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  private onConnectionGone(connection: Connection): void {
    this.connections.delete(connection);
    this.replyLinks.delete(connection);
    for (const entity of this.receivable.values()) {
      // Locks held by the connection's receivers stay until they expire, as in Service Bus.
      entity.consumers = entity.consumers.filter((c) => c.link.connection !== connection);
    }
  }

  private detachSender(link: Sender, connection: Connection): void {
    this.replyLinks.get(connection)?.delete(link);
    for (const entity of this.receivable.values()) {
      entity.consumers = entity.consumers.filter((c) => c.link !== link);
    }
  }

  // ---------------------------------------------------------------- link attach

  private resolveEntityPath(path: string): Entity | Topic | undefined {
    const key = path.toLowerCase();
    return this.queues.get(key) ?? this.topics.get(key) ?? this.receivable.get(key);
  }

  private refuse(link: Sender | Receiver, description: string): void {
    link.close({ condition: CONDITION_NOT_FOUND, description });
  }

  /** A client receiver attached: the broker is the sending side. */
  private onClientReceiverAttached(link: Sender, connection: Connection): void {
    const remoteSource = link.source as { address?: unknown } | undefined;
    const remoteTarget = link.target as { address?: unknown } | undefined;
    const address = normaliseAddress(remoteSource?.address);
    link.set_source({ address: typeof remoteSource?.address === 'string' ? remoteSource.address : address });
    if (typeof remoteTarget?.address === 'string') link.set_target({ address: remoteTarget.address });
    const internals = link as unknown as SenderInternals;

    if (address === CBS_ADDRESS || address.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) {
      const set = this.replyLinks.get(connection) ?? new Set<Sender>();
      set.add(link);
      this.replyLinks.set(connection, set);
      return;
    }
    const entity = this.receivable.get(address.toLowerCase());
    if (!entity) {
      this.refuse(
        link,
        `The messaging entity '${address}' could not be found (topics are read through their subscriptions).`,
      );
      return;
    }
    const receiveAndDelete = link.snd_settle_mode === 1;
    internals.local.attach.snd_settle_mode = receiveAndDelete ? 1 : 0;
    internals.local.attach.rcv_settle_mode = link.rcv_settle_mode ?? 0;
    // rhea only echoes drain when credit is left over; Service Bus always answers a drain request.
    internals._get_drain = function (this: SenderInternals): boolean {
      if (this._draining && this._drained) {
        this.delivery_count += this.credit;
        this.credit = 0;
        this._draining = false;
        return true;
      }
      return false;
    };
    const consumer: Consumer = { link, entity, receiveAndDelete, sent: 0 };
    entity.consumers.push(consumer);
    link.on('sender_flow', () => this.pump(entity));
    link.on('sendable', () => this.pump(entity));
    link.on('accepted', (ctx: EventContext) => ctx.delivery && this.onOutcome(ctx.delivery));
    link.on('rejected', (ctx: EventContext) => ctx.delivery && this.onOutcome(ctx.delivery));
    link.on('modified', (ctx: EventContext) => ctx.delivery && this.onOutcome(ctx.delivery));
    link.on('released', (ctx: EventContext) => ctx.delivery && this.onOutcome(ctx.delivery));
  }

  /** A client sender attached: the broker is the receiving side. */
  private onClientSenderAttached(link: Receiver, connection: Connection): void {
    const remoteTarget = link.target as { address?: unknown } | undefined;
    const remoteSource = link.source as { address?: unknown } | undefined;
    const address = normaliseAddress(remoteTarget?.address);
    link.set_target({ address: typeof remoteTarget?.address === 'string' ? remoteTarget.address : address });
    if (typeof remoteSource?.address === 'string') link.set_source({ address: remoteSource.address });
    (link as unknown as ReceiverInternals).local.attach.max_message_size = MAX_MESSAGE_SIZE_BYTES;

    if (address === CBS_ADDRESS) {
      link.on('message', (ctx: EventContext) => {
        ctx.delivery?.accept();
        this.onCbsRequest(ctx.message, connection);
      });
      return;
    }
    if (address.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) {
      const entityPath = address.slice(0, -MANAGEMENT_SUFFIX.length);
      const target = this.resolveEntityPath(entityPath);
      if (!target) {
        this.refuse(link, `The messaging entity '${entityPath}' could not be found.`);
        return;
      }
      link.on('message', (ctx: EventContext) => {
        ctx.delivery?.accept();
        this.onManagementRequest(target, ctx.message, connection);
      });
      return;
    }
    const key = address.toLowerCase();
    const target: SendTarget | undefined = this.queues.get(key) ?? this.topics.get(key);
    if (!target) {
      this.refuse(link, `The messaging entity '${address}' could not be found or does not accept sends.`);
      return;
    }
    link.on('message', (ctx: EventContext) => {
      const delivery = ctx.delivery;
      if (!delivery) return;
      const reject = (condition: string, description: string): void =>
        delivery.update(true, outcomes.rejected({ error: { condition, description } }).described());
      try {
        const batch = delivery.format === BATCH_MESSAGE_FORMAT;
        const size = batch
          ? Buffer.isBuffer(ctx.message)
            ? ctx.message.length
            : 0
          : rhea.message.encode(ctx.message).length;
        if (size > MAX_MESSAGE_SIZE_BYTES) {
          reject(
            'amqp:link:message-size-exceeded',
            `The message is ${size} bytes; the maximum allowed size is ${MAX_MESSAGE_SIZE_BYTES} bytes.`,
          );
          return;
        }
        const messages = batch ? this.decodeBatch(ctx.message) : ctx.message ? [ctx.message] : [];
        for (const message of messages) this.ingest(target, message);
        delivery.accept();
      } catch (error) {
        // A broker bug must fail this one send, not tear down the client's whole connection.
        reject('amqp:internal-error', (error as Error).message);
      }
    });
  }

  private decodeBatch(raw: unknown): Message[] {
    if (!Buffer.isBuffer(raw)) return [];
    const outer = decodeMessage(raw);
    const body: unknown = outer.body;
    if (!isBodySection(body)) return [];
    const parts = body.multiple ? asArray(body.content) : [body.content];
    return parts.filter((p): p is Buffer => Buffer.isBuffer(p)).map((p) => decodeMessage(p));
  }

  // ---------------------------------------------------------------- request/response links

  private reply(connection: Connection, request: Message, response: ManagementResponse): void {
    const replyTo = typeof request.reply_to === 'string' ? request.reply_to : undefined;
    if (replyTo === undefined) return;
    const links = this.replyLinks.get(connection);
    if (!links) return;
    let link: Sender | undefined;
    for (const candidate of links) {
      const target = candidate.target as { address?: unknown } | undefined;
      if (candidate.name === replyTo || target?.address === replyTo) link = candidate;
    }
    if (!link) return;
    const applicationProperties: Record<string, unknown> = {
      'status-code': response.status,
      'status-description': response.description ?? (response.status < 300 ? 'OK' : 'Error'),
    };
    if (response.condition) applicationProperties['error-condition'] = response.condition;
    const send = (properties: Record<string, unknown>, body: unknown): void => {
      link.send({
        correlation_id: request.message_id as string,
        to: replyTo,
        application_properties: properties,
        body,
      });
    };
    try {
      send(applicationProperties, response.body);
    } catch (error) {
      send(
        {
          'status-code': 500,
          'status-description': (error as Error).message,
          'error-condition': 'amqp:internal-error',
        },
        undefined,
      );
    }
  }

  private onCbsRequest(request: Message | undefined, connection: Connection): void {
    if (!request) return;
    // Any token is accepted: the broker is a local development stand-in, not a security boundary.
    this.reply(connection, request, { status: 202, description: 'Accepted' });
  }

  private onManagementRequest(
    target: SendTarget,
    request: Message | undefined,
    connection: Connection,
  ): void {
    if (!request) return;
    const operation = asRecord(request.application_properties).operation;
    const body = asRecord(request.body);
    let response: ManagementResponse;
    try {
      response = this.handleManagement(target, String(operation), body);
    } catch (error) {
      response = { status: 500, condition: 'amqp:internal-error', description: (error as Error).message };
    }
    this.reply(connection, request, response);
  }

  private handleManagement(
    target: SendTarget,
    operation: string,
    body: Record<string, unknown>,
  ): ManagementResponse {
    switch (operation) {
      case 'com.microsoft:schedule-message':
        return this.scheduleFromManagement(target, body);
      case 'com.microsoft:cancel-scheduled-message':
        return this.cancelScheduled(target, body);
      default:
        break;
    }
    if (target.kind === 'topic') {
      return {
        status: 501,
        condition: CONDITION_NOT_IMPLEMENTED,
        description: `${operation} is not supported on a topic.`,
      };
    }
    switch (operation) {
      case 'com.microsoft:renew-lock':
        return this.renewLocks(body);
      case 'com.microsoft:peek-message':
        return this.peek(target, body);
      case 'com.microsoft:update-disposition':
        return this.updateDisposition(body);
      case 'com.microsoft:receive-by-sequence-number':
        return this.receiveDeferred(target, body);
      default:
        return {
          status: 501,
          condition: CONDITION_NOT_IMPLEMENTED,
          description: `The local broker does not implement ${operation}.`,
        };
    }
  }

  private lockFromToken(token: unknown): Lock | undefined {
    if (!Buffer.isBuffer(token)) return undefined;
    return this.locks.get(reorderGuidBytes(token).toString('hex'));
  }

  private renewLocks(body: Record<string, unknown>): ManagementResponse {
    const expirations: Date[] = [];
    for (const token of asArray(body['lock-tokens'])) {
      const lock = this.lockFromToken(token);
      if (!lock) {
        return {
          status: 410,
          condition: CONDITION_LOCK_LOST,
          description:
            'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
        };
      }
      lock.timer.cancel();
      lock.until = this.clock.now() + lock.entity.lockDurationMs;
      lock.timer = this.clock.setTimer(() => this.onLockExpired(lock), lock.entity.lockDurationMs);
      expirations.push(new Date(lock.until));
    }
    return { status: 200, body: { expirations } };
  }

  private peek(entity: Entity, body: Record<string, unknown>): ManagementResponse {
    this.expire(entity);
    const from = toNumber(body['from-sequence-number']) ?? 0;
    const count = toNumber(body['message-count']) ?? 1;
    const messages = entity.messages
      .filter((m) => m.seq >= from)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, count)
      .map((m) => ({ message: rhea.message.encode(this.outgoing(m, m.attempts, m.lock?.until)) }));
    // 200 with an empty list: the SDK reads `body.messages` unless its own `statusCode` key says 204.
    return { status: 200, body: { messages } };
  }

  private updateDisposition(body: Record<string, unknown>): ManagementResponse {
    const status = String(body['disposition-status']);
    const properties = asRecord(body['properties-to-modify']);
    for (const token of asArray(body['lock-tokens'])) {
      const lock = this.lockFromToken(token);
      if (!lock) {
        return {
          status: 410,
          condition: CONDITION_LOCK_LOST,
          description:
            'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
        };
      }
      this.releaseLock(lock);
      switch (status) {
        case 'completed':
          this.remove(lock.entity, lock.stored);
          break;
        case 'abandoned':
          this.abandon(lock.entity, lock.stored, properties);
          break;
        case 'defered':
          Object.assign(
            lock.stored.message.application_properties ?? (lock.stored.message.application_properties = {}),
            properties,
          );
          this.defer(lock.stored);
          break;
        case 'suspended':
          this.deadLetter(lock.entity, lock.stored, {
            ...properties,
            DeadLetterReason: body['deadletter-reason'],
            DeadLetterErrorDescription: body['deadletter-description'],
          });
          break;
        default:
          return {
            status: 400,
            condition: 'amqp:invalid-field',
            description: `Unknown disposition status ${status}.`,
          };
      }
      this.pump(lock.entity);
    }
    return { status: 200, body: {} };
  }

  private scheduleFromManagement(target: SendTarget, body: Record<string, unknown>): ManagementResponse {
    const sequenceNumbers: number[] = [];
    for (const entry of asArray(body.messages)) {
      const encoded = asRecord(entry).message;
      if (!Buffer.isBuffer(encoded)) continue;
      sequenceNumbers.push(this.ingest(target, decodeMessage(encoded)));
    }
    return {
      status: 200,
      body: {
        'sequence-numbers': rhea.types.wrap_array(sequenceNumbers, 0x81, undefined),
      },
    };
  }

  private cancelScheduled(target: SendTarget, body: Record<string, unknown>): ManagementResponse {
    for (const raw of asArray(body['sequence-numbers'])) {
      const seq = toNumber(raw);
      const entry = seq === undefined ? undefined : this.scheduled.get(seq);
      if (entry && entry.target === target) {
        entry.timer.cancel();
        this.scheduled.delete(entry.seq);
      }
    }
    return { status: 200, body: {} };
  }

  // ---------------------------------------------------------------- message flow

  /** Accepts a message sent to a queue or topic; returns its sequence number. */
  private ingest(target: SendTarget, message: Message): number {
    // Service Bus stamps an id when the sender set none; receivers and dedup rely on it.
    if (message.message_id === undefined || message.message_id === null) {
      message.message_id = randomUUID().replace(/-/g, '');
    }
    const duplicateOf = this.checkDuplicate(target, message);
    if (duplicateOf !== undefined) return duplicateOf;
    const seq = this.nextSequenceNumber++;
    target.duplicates?.seen.set(String(message.message_id), { at: this.clock.now(), seq });
    const scheduledAt = toNumber(message.message_annotations?.[ANN_SCHEDULED_ENQUEUE_TIME]);
    const now = this.clock.now();
    if (scheduledAt !== undefined && scheduledAt > now) {
      const entry: ScheduledMessage = {
        seq,
        target,
        message,
        due: scheduledAt,
        timer: this.clock.setTimer(() => {
          this.scheduled.delete(seq);
          this.enqueue(target, seq, message);
        }, scheduledAt - now),
      };
      this.scheduled.set(seq, entry);
    } else {
      this.enqueue(target, seq, message);
    }
    return seq;
  }

  /** The sequence number of an earlier message with the same MessageId inside the window, if any. */
  private checkDuplicate(target: SendTarget, message: Message): number | undefined {
    const history = target.duplicates;
    if (!history) return undefined;
    const now = this.clock.now();
    for (const [id, entry] of history.seen) {
      if (now - entry.at >= history.windowMs) history.seen.delete(id);
    }
    return history.seen.get(String(message.message_id))?.seq;
  }

  private enqueue(target: SendTarget, seq: number, message: Message): void {
    if (target.kind === 'topic') {
      for (const sub of target.subscriptions) {
        if (this.matches(sub.rules, message)) this.push(sub, seq, cloneMessage(message), target.ttlMs);
      }
    } else {
      this.push(target, seq, message, undefined);
    }
  }

  private matches(rules: SubscriptionRule[], message: Message): boolean {
    if (rules.length === 0) return true;
    return rules.some((rule) => {
      if (rule.Properties.FilterType === 'Sql') return true;
      const f = rule.Properties.CorrelationFilter;
      if (!f) return true;
      const pairs: [unknown, unknown][] = [
        [f.ContentType, message.content_type],
        [f.CorrelationId, message.correlation_id],
        [f.Label, message.subject],
        [f.MessageId, message.message_id],
        [f.ReplyTo, message.reply_to],
        [f.ReplyToSessionId, message.reply_to_group_id],
        [f.SessionId, message.group_id],
        [f.To, message.to],
      ];
      if (pairs.some(([want, have]) => want !== undefined && want !== have)) return false;
      const props = asRecord(message.application_properties);
      return Object.entries(f.Properties ?? {}).every(([k, v]) => props[k] === v);
    });
  }

  private push(entity: Entity, seq: number, message: Message, topicTtlMs: number | undefined): void {
    const now = this.clock.now();
    const ttls = [message.ttl, entity.ttlMs, topicTtlMs].filter(
      (t): t is number => typeof t === 'number' && t > 0,
    );
    const ttl = ttls.length > 0 ? Math.min(...ttls) : undefined;
    const stored: StoredMessage = {
      seq,
      message,
      enqueuedAt: now,
      expiresAt: ttl === undefined ? undefined : now + ttl,
      attempts: 0,
      state: 'active',
      deferred: false,
      lock: undefined,
      expiryTimer: undefined,
    };
    entity.messages.push(stored);
    if (ttl !== undefined) {
      // Expire in the background, so a dead-letter receiver sees the message without other traffic.
      const timer = this.clock.setTimer(() => {
        this.expiryTimers.delete(timer);
        stored.expiryTimer = undefined;
        if (this.stopped) return;
        if (this.isExpired(stored) && entity.messages.includes(stored)) this.expireMessage(entity, stored);
        this.pump(entity);
      }, ttl);
      stored.expiryTimer = timer;
      this.expiryTimers.add(timer);
    }
    this.pump(entity);
  }

  private remove(entity: Entity, stored: StoredMessage): void {
    const index = entity.messages.indexOf(stored);
    if (index >= 0) entity.messages.splice(index, 1);
    if (stored.expiryTimer) {
      stored.expiryTimer.cancel();
      this.expiryTimers.delete(stored.expiryTimer);
      stored.expiryTimer = undefined;
    }
  }

  /** Active (not locked, not deferred) and past its time to live. */
  private isExpired(stored: StoredMessage): boolean {
    return (
      stored.state === 'active' && stored.expiresAt !== undefined && stored.expiresAt <= this.clock.now()
    );
  }

  private expireMessage(entity: Entity, stored: StoredMessage): void {
    if (entity.deadLetterOnExpiration) {
      this.deadLetter(entity, stored, {
        DeadLetterReason: 'TTLExpiredException',
        DeadLetterErrorDescription: 'The message expired and was dead lettered.',
      });
    } else {
      this.remove(entity, stored);
    }
  }

  /** Full scan; only inspection paths use it, delivery checks each message as it goes. */
  private expire(entity: Entity): void {
    for (const stored of [...entity.messages]) {
      if (this.isExpired(stored)) this.expireMessage(entity, stored);
    }
  }

  private deadLetter(entity: Entity, stored: StoredMessage, properties: Record<string, unknown>): void {
    const applicationProperties: Record<string, unknown> = { ...stored.message.application_properties };
    for (const [key, value] of Object.entries(properties)) {
      if (value !== undefined && value !== null) applicationProperties[key] = value;
    }
    const dlq = entity.deadLetter;
    if (!dlq) {
      // Dead-lettering from a dead-letter queue keeps the message there, as Service Bus does.
      stored.message.application_properties = applicationProperties;
      stored.state = 'active';
      return;
    }
    this.remove(entity, stored);
    const message = cloneMessage(stored.message);
    message.application_properties = applicationProperties;
    message.message_annotations = { ...message.message_annotations, [ANN_DEADLETTER_SOURCE]: entity.path };
    dlq.messages.push({
      seq: stored.seq,
      message,
      enqueuedAt: this.clock.now(),
      expiresAt: undefined,
      attempts: stored.attempts,
      state: 'active',
      deferred: false,
      lock: undefined,
      expiryTimer: undefined,
    });
    this.pump(dlq);
  }

  private abandon(entity: Entity, stored: StoredMessage, properties: Record<string, unknown>): void {
    if (Object.keys(properties).length > 0) {
      stored.message.application_properties = { ...stored.message.application_properties, ...properties };
    }
    if (stored.attempts >= entity.maxDeliveryCount) {
      this.deadLetter(entity, stored, {
        DeadLetterReason: 'MaxDeliveryCountExceeded',
        DeadLetterErrorDescription: `Message could not be consumed after ${entity.maxDeliveryCount} delivery attempts.`,
      });
    } else {
      stored.state = stored.deferred ? 'deferred' : 'active';
    }
  }

  private available(consumer: Consumer): number {
    const link = consumer.link as unknown as SenderInternals;
    return link.delivery_count + link.credit - consumer.sent;
  }

  private pickConsumer(entity: Entity): Consumer | undefined {
    const n = entity.consumers.length;
    for (let i = 0; i < n; i++) {
      const index = (entity.roundRobin + i) % n;
      const consumer = entity.consumers[index];
      if (
        consumer &&
        consumer.link.is_open() &&
        this.available(consumer) > 0 &&
        // rhea throws when its per-session delivery buffer is full; wait for `sendable` instead.
        (consumer.link as unknown as SenderInternals).session.outgoing.available() > 0
      ) {
        entity.roundRobin = (index + 1) % n;
        return consumer;
      }
    }
    return undefined;
  }

  /** Delivers active messages to receivers with credit, then answers pending drain requests. */
  private pump(entity: Entity): void {
    if (this.stopped) return;
    // Index walk without copying: deliveries and expiry may remove the current message.
    let i = 0;
    while (i < entity.messages.length) {
      const stored = entity.messages[i];
      if (stored === undefined) break;
      if (stored.state !== 'active') {
        i++;
        continue;
      }
      if (this.isExpired(stored)) {
        // A message whose lock ended after its expiry time goes now instead of being delivered.
        this.expireMessage(entity, stored);
        continue;
      }
      const consumer = this.pickConsumer(entity);
      if (!consumer) break;
      this.deliver(consumer, stored);
      if (entity.messages[i] === stored) i++;
    }
    for (const consumer of entity.consumers) {
      const link = consumer.link as unknown as SenderInternals;
      if (link._draining && consumer.link.is_open()) {
        consumer.sent = link.delivery_count + link.credit;
        consumer.link.set_drained(true);
        link.connection._register();
      }
    }
  }

  private outgoing(stored: StoredMessage, deliveryCount: number, lockedUntil: number | undefined): Message {
    const message = cloneMessage(stored.message);
    message.delivery_count = deliveryCount;
    message.message_annotations = {
      ...message.message_annotations,
      [ANN_ENQUEUED_TIME]: new Date(stored.enqueuedAt),
      [ANN_SEQUENCE_NUMBER]: rhea.types.wrap_long(stored.seq),
      [ANN_ENQUEUE_SEQUENCE_NUMBER]: rhea.types.wrap_long(stored.seq),
      [ANN_MESSAGE_STATE]: rhea.types.wrap_int(stored.deferred ? 1 : 0),
      ...(lockedUntil === undefined ? {} : { [ANN_LOCKED_UNTIL]: new Date(lockedUntil) }),
    };
    return message;
  }

  private deliver(consumer: Consumer, stored: StoredMessage): void {
    const entity = consumer.entity;
    const tag = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
    consumer.sent++;
    if (consumer.receiveAndDelete) {
      this.remove(entity, stored);
      consumer.link.send(this.outgoing(stored, stored.attempts, undefined), tag);
      return;
    }
    const deliveryCount = stored.attempts;
    const lock = this.lock(entity, stored, tag.toString('hex'));
    const delivery = consumer.link.send(this.outgoing(stored, deliveryCount, lock.until), tag);
    this.deliveryLocks.set(delivery, lock);
  }

  /** Locks a message for one peek-lock delivery; `key` is how settlement finds the lock again. */
  private lock(entity: Entity, stored: StoredMessage, key: string): Lock {
    stored.attempts++;
    stored.state = 'locked';
    const lock: Lock = {
      key,
      until: this.clock.now() + entity.lockDurationMs,
      entity,
      stored,
      timer: { cancel: () => undefined },
    };
    lock.timer = this.clock.setTimer(() => this.onLockExpired(lock), entity.lockDurationMs);
    stored.lock = lock;
    this.locks.set(key, lock);
    return lock;
  }

  private defer(stored: StoredMessage): void {
    stored.deferred = true;
    stored.state = 'deferred';
  }

  /** `receiveDeferredMessages`: hands out deferred messages by sequence number over the management link. */
  private receiveDeferred(entity: Entity, body: Record<string, unknown>): ManagementResponse {
    const receiveAndDelete = toNumber(body['receiver-settle-mode']) === 0;
    const wanted = asArray(body['sequence-numbers']).map(toNumber);
    const found = wanted.map((seq) => entity.messages.find((m) => m.seq === seq && m.state === 'deferred'));
    if (found.some((m) => m === undefined)) {
      return {
        status: 404,
        condition: 'com.microsoft:message-not-found',
        description: `No deferred message with sequence number(s) ${wanted.join(', ')} is available.`,
      };
    }
    const messages = (found as StoredMessage[]).map((stored) => {
      if (receiveAndDelete) {
        this.remove(entity, stored);
        return { message: rhea.message.encode(this.outgoing(stored, stored.attempts, undefined)) };
      }
      // Such messages are settled by lock token over this link; the SDK does not byte-swap this token.
      const token = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
      const deliveryCount = stored.attempts;
      const lock = this.lock(entity, stored, reorderGuidBytes(token).toString('hex'));
      return {
        message: rhea.message.encode(this.outgoing(stored, deliveryCount, lock.until)),
        'lock-token': rhea.types.wrap_uuid(token),
      };
    });
    return { status: 200, body: { messages } };
  }

  private releaseLock(lock: Lock): void {
    lock.timer.cancel();
    this.locks.delete(lock.key);
    if (lock.stored.lock === lock) lock.stored.lock = undefined;
  }

  private onLockExpired(lock: Lock): void {
    if (this.locks.get(lock.key) !== lock) return;
    this.releaseLock(lock);
    this.abandon(lock.entity, lock.stored, {});
    this.pump(lock.entity);
  }

  private onOutcome(delivery: Delivery): void {
    if (delivery.settled) return;
    const lock = this.deliveryLocks.get(delivery);
    if (!lock || this.locks.get(lock.key) !== lock) {
      delivery.update(
        true,
        outcomes
          .rejected({
            error: {
              condition: CONDITION_LOCK_LOST,
              description:
                'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
            },
          })
          .described(),
      );
      forgetSettled(delivery);
      return;
    }
    this.releaseLock(lock);
    const { entity, stored } = lock;
    const state = asRecord(delivery.remote_state);
    switch (outcomeType(delivery)) {
      case 'accepted':
        this.remove(entity, stored);
        break;
      case 'rejected': {
        const error = asRecord(state.error);
        const info = asRecord(error.info);
        this.deadLetter(entity, stored, {
          ...info,
          DeadLetterReason:
            info.DeadLetterReason ??
            (error.condition === CONDITION_DEAD_LETTER ? undefined : error.condition),
          DeadLetterErrorDescription: info.DeadLetterErrorDescription ?? error.description,
        });
        break;
      }
      case 'modified':
        if (state.undeliverable_here === true) {
          Object.assign(
            stored.message.application_properties ?? (stored.message.application_properties = {}),
            asRecord(state.message_annotations),
          );
          this.defer(stored);
        } else {
          this.abandon(entity, stored, asRecord(state.message_annotations));
        }
        break;
      default:
        this.abandon(entity, stored, {});
        break;
    }
    delivery.update(true, outcomes.accepted().described());
    forgetSettled(delivery);
    this.pump(entity);
  }

  // ---------------------------------------------------------------- inspection

  entities(): EntitySnapshot[] {
    const snapshot = (entity: Entity, kind: 'queue' | 'subscription'): EntitySnapshot => {
      this.expire(entity);
      const count = (state: StoredMessage['state']): number =>
        entity.messages.filter((m) => m.state === state).length;
      return {
        path: entity.path,
        kind,
        activeMessageCount: count('active'),
        lockedMessageCount: count('locked'),
        deferredMessageCount: count('deferred'),
        scheduledMessageCount: [...this.scheduled.values()].filter((s) => s.target === entity).length,
        deadLetterMessageCount: entity.deadLetter?.messages.length ?? 0,
        receiverCount: entity.consumers.length,
      };
    };
    const result: EntitySnapshot[] = [];
    for (const q of this.queues.values()) result.push(snapshot(q, 'queue'));
    for (const t of this.topics.values()) {
      result.push({
        path: t.path,
        kind: 'topic',
        activeMessageCount: 0,
        lockedMessageCount: 0,
        deferredMessageCount: 0,
        scheduledMessageCount: [...this.scheduled.values()].filter((s) => s.target === t).length,
        deadLetterMessageCount: 0,
        receiverCount: 0,
      });
      for (const s of t.subscriptions) result.push(snapshot(s, 'subscription'));
    }
    return result;
  }

  openConnections(): number {
    return this.connections.size;
  }

  deadLetters(entityPath: string): DeadLetteredMessage[] {
    const path = normaliseAddress(entityPath).replace(new RegExp(`/\\${DEAD_LETTER_QUEUE_SUFFIX}$`, 'i'), '');
    const entity = this.receivable.get(path.toLowerCase());
    if (!entity?.deadLetter) {
      throw new InputError(
        `No queue or subscription named '${entityPath}' is declared in the Service Bus config.`,
        {
          code: 'SERVICEBUS_ENTITY_NOT_FOUND',
        },
      );
    }
    this.expire(entity);
    return entity.deadLetter.messages.map((m) => {
      const props = asRecord(m.message.application_properties);
      return {
        messageId: m.message.message_id,
        sequenceNumber: m.seq,
        body: decodeBody(m.message.body),
        deadLetterReason: typeof props.DeadLetterReason === 'string' ? props.DeadLetterReason : undefined,
        deadLetterErrorDescription:
          typeof props.DeadLetterErrorDescription === 'string' ? props.DeadLetterErrorDescription : undefined,
        deadLetterSource: entity.path,
        applicationProperties: { ...props },
        deliveryCount: m.attempts,
      };
    });
  }
}

/**
 * Starts an in-process AMQP 1.0 broker that `@azure/service-bus` talks to with the returned
 * connection string (`UseDevelopmentEmulator=true` makes the SDK use plain TCP and honour the port).
 * Entities come from a config file shaped like the official emulator's `Config.json`.
 */
export async function startServiceBusBroker(
  options: StartServiceBusBrokerOptions = {},
): Promise<ServiceBusBroker> {
  const host = options.host ?? '127.0.0.1';
  const config =
    typeof options.config === 'string'
      ? await loadBrokerConfig(options.config)
      : parseBrokerConfig(options.config ?? DEFAULT_SERVICE_BUS_CONFIG);
  const broker = new Broker(config, options.clock ?? systemClock);
  const port = await broker.listen(host, options.port ?? 0);
  const endpointHost = host.includes(':') ? `[${host}]` : host;
  return {
    connectionString: `Endpoint=sb://${endpointHost}:${port};SharedAccessKeyName=${EMULATOR_KEY_NAME};SharedAccessKey=${EMULATOR_KEY_VALUE};UseDevelopmentEmulator=true`,
    port,
    host,
    entities: () => broker.entities(),
    deadLetters: (entityPath) => broker.deadLetters(entityPath),
    openConnections: () => broker.openConnections(),
    stop: () => broker.stop(),
  };
}
