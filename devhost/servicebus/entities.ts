/**
 * The broker's entities and what happens to messages in them: queues, topics (fan-out through
 * correlation filters) and subscriptions, each with its dead-letter queue; sequence numbers,
 * duplicate detection, scheduled enqueue, time to live, peek-lock locks and their expiry,
 * abandon/defer/dead-letter, and the counts tests inspect. Delivering to receivers is the links'
 * part (links.ts): an entity with something new to hand out calls `pump`.
 */
import { randomUUID } from 'node:crypto';
import rhea from 'rhea';
import type { Message, Sender } from 'rhea';
import { InputError } from '../errors.js';
import {
  ANN_DEADLETTER_SOURCE,
  ANN_ENQUEUE_SEQUENCE_NUMBER,
  ANN_ENQUEUED_TIME,
  ANN_LOCKED_UNTIL,
  ANN_MESSAGE_STATE,
  ANN_SCHEDULED_ENQUEUE_TIME,
  ANN_SEQUENCE_NUMBER,
  asRecord,
  cloneMessage,
  decodeBody,
  normaliseAddress,
  toNumber,
} from './amqp.js';
import type { BrokerClock, BrokerTimer } from './clock.js';
import type {
  DuplicateDetectionProperties,
  EntityProperties,
  ParsedBrokerConfig,
  SubscriptionRule,
} from './config.js';

/** Address suffix of an entity's dead-letter queue. */
export const DEAD_LETTER_QUEUE_SUFFIX = '$DeadLetterQueue';

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

export interface Lock {
  /** Hex of the delivery tag; the SDK's lock token is this GUID with .NET byte order. */
  key: string;
  until: number;
  timer: BrokerTimer;
  entity: Entity;
  stored: StoredMessage;
}

export interface StoredMessage {
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

/** A client receiver link attached to an entity (the broker sends on it). */
export interface Consumer {
  link: Sender;
  entity: Entity;
  receiveAndDelete: boolean;
  /** Deliveries handed to rhea on this link, to compute remaining credit before rhea's own count catches up. */
  sent: number;
}

/** A queue, a subscription or a dead-letter queue: something receivers read from. */
export interface Entity {
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

export interface Topic {
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

/** What a client can send to: a queue or a topic. */
export type SendTarget = Entity | Topic;

interface ScheduledMessage {
  seq: number;
  target: SendTarget;
  message: Message;
  due: number;
  timer: BrokerTimer;
}

function duplicateHistory(props: DuplicateDetectionProperties): DuplicateHistory | undefined {
  return props.RequiresDuplicateDetection
    ? { windowMs: props.DuplicateDetectionHistoryTimeWindow, seen: new Map() }
    : undefined;
}

/** The broker's entities and their messages (one per broker). */
export class BrokerEntities {
  readonly queues = new Map<string, Entity>();
  readonly topics = new Map<string, Topic>();
  /** Every addressable receive entity (queues, subscriptions, dead-letter queues) by lower-cased path. */
  readonly receivable = new Map<string, Entity>();
  readonly locks = new Map<string, Lock>();
  readonly scheduled = new Map<number, ScheduledMessage>();
  private readonly expiryTimers = new Set<BrokerTimer>();
  private nextSequenceNumber = 1;
  /** Set by {@link stop}: nothing is delivered any more. */
  stopped = false;

  /**
   * @param pump hands out what an entity has ready to its receivers (links.ts); called whenever a
   *   message becomes deliverable.
   */
  constructor(
    config: ParsedBrokerConfig,
    readonly clock: BrokerClock,
    readonly pump: (entity: Entity) => void,
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

  /** Cancels every lock, schedule and expiry timer; nothing is delivered afterwards. */
  stop(): void {
    this.stopped = true;
    for (const lock of this.locks.values()) lock.timer.cancel();
    this.locks.clear();
    for (const s of this.scheduled.values()) s.timer.cancel();
    this.scheduled.clear();
    for (const timer of this.expiryTimers) timer.cancel();
    this.expiryTimers.clear();
  }

  /** A queue, topic, subscription or dead-letter queue by path (case-insensitive). */
  resolveEntityPath(path: string): Entity | Topic | undefined {
    const key = path.toLowerCase();
    return this.queues.get(key) ?? this.topics.get(key) ?? this.receivable.get(key);
  }

  /** A queue or topic by path (what a client sender may attach to). */
  sendTarget(path: string): SendTarget | undefined {
    const key = path.toLowerCase();
    return this.queues.get(key) ?? this.topics.get(key);
  }

  // ---------------------------------------------------------------- message flow

  /** Accepts a message sent to a queue or topic; returns its sequence number. */
  ingest(target: SendTarget, message: Message): number {
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

  /** Cancels a scheduled message of `target` (unknown or foreign sequence numbers are ignored). */
  cancelScheduled(target: SendTarget, seq: number | undefined): void {
    const entry = seq === undefined ? undefined : this.scheduled.get(seq);
    if (entry && entry.target === target) {
      entry.timer.cancel();
      this.scheduled.delete(entry.seq);
    }
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

  /** Takes a message out of its entity (completed, received-and-deleted, moved, expired). */
  remove(entity: Entity, stored: StoredMessage): void {
    const index = entity.messages.indexOf(stored);
    if (index >= 0) entity.messages.splice(index, 1);
    if (stored.expiryTimer) {
      stored.expiryTimer.cancel();
      this.expiryTimers.delete(stored.expiryTimer);
      stored.expiryTimer = undefined;
    }
  }

  /** Active (not locked, not deferred) and past its time to live. */
  isExpired(stored: StoredMessage): boolean {
    return (
      stored.state === 'active' && stored.expiresAt !== undefined && stored.expiresAt <= this.clock.now()
    );
  }

  /** Dead-letters or drops an expired message, as the entity says. */
  expireMessage(entity: Entity, stored: StoredMessage): void {
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
  expire(entity: Entity): void {
    for (const stored of [...entity.messages]) {
      if (this.isExpired(stored)) this.expireMessage(entity, stored);
    }
  }

  /** Moves a message to the entity's dead-letter queue with `properties` added to its application properties. */
  deadLetter(entity: Entity, stored: StoredMessage, properties: Record<string, unknown>): void {
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

  /** Makes a message deliverable again, or dead-letters it once MaxDeliveryCount is reached. */
  abandon(entity: Entity, stored: StoredMessage, properties: Record<string, unknown>): void {
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

  /** Sets a message aside: only receive-by-sequence-number hands it out again. */
  defer(stored: StoredMessage): void {
    stored.deferred = true;
    stored.state = 'deferred';
  }

  /** The message as a receiver gets it: broker annotations (sequence number, lock, state) added. */
  outgoing(stored: StoredMessage, deliveryCount: number, lockedUntil: number | undefined): Message {
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

  // ---------------------------------------------------------------- locks

  /** Locks a message for one peek-lock delivery; `key` is how settlement finds the lock again. */
  lock(entity: Entity, stored: StoredMessage, key: string): Lock {
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

  /** Extends a lock by the entity's lock duration. */
  renewLock(lock: Lock): void {
    lock.timer.cancel();
    lock.until = this.clock.now() + lock.entity.lockDurationMs;
    lock.timer = this.clock.setTimer(() => this.onLockExpired(lock), lock.entity.lockDurationMs);
  }

  /** Whether `lock` is still the live lock of its message. */
  holds(lock: Lock): boolean {
    return this.locks.get(lock.key) === lock;
  }

  releaseLock(lock: Lock): void {
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
