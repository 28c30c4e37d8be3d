/**
 * The broker's links: what happens when a client attaches a sender (its transfers are size-checked,
 * batches unpacked and handed to the entities) or a receiver (the broker delivers on it within the
 * client's credit, round-robin between receivers, answers drain requests, and settles the client's
 * outcomes: complete, abandon, defer, dead-letter). Links to `$cbs` and `…/$management` go to the
 * request/response nodes (cbs.ts).
 */
import { randomUUID } from 'node:crypto';
import rhea from 'rhea';
import type { Connection, Delivery, EventContext, Message, Receiver, Sender } from 'rhea';
import {
  asArray,
  asRecord,
  BATCH_MESSAGE_FORMAT,
  CBS_ADDRESS,
  CONDITION_DEAD_LETTER,
  CONDITION_LOCK_LOST,
  CONDITION_NOT_FOUND,
  decodeMessage,
  forgetSettled,
  isBodySection,
  LOCK_LOST_DESCRIPTION,
  MANAGEMENT_SUFFIX,
  normaliseAddress,
  outcomes,
  outcomeType,
  type ReceiverInternals,
  type SenderInternals,
} from './amqp.js';
import type { RequestResponseNodes } from './cbs.js';
import type { BrokerEntities, Consumer, Entity, Lock, StoredMessage } from './entities.js';

/** Largest message the broker accepts, as the Standard tier and the emulator (256 KiB). */
export const MAX_MESSAGE_SIZE_BYTES = 256 * 1024;

/** Client links of one broker: attach, transfers in, deliveries out, settlement. */
export class BrokerLinks {
  private readonly deliveryLocks = new WeakMap<Delivery, Lock>();

  constructor(
    private readonly entities: BrokerEntities,
    private readonly nodes: RequestResponseNodes,
  ) {}

  private refuse(link: Sender | Receiver, description: string): void {
    link.close({ condition: CONDITION_NOT_FOUND, description });
  }

  /** A client receiver attached: the broker is the sending side. */
  onClientReceiverAttached(link: Sender, connection: Connection): void {
    const remoteSource = link.source as { address?: unknown } | undefined;
    const remoteTarget = link.target as { address?: unknown } | undefined;
    const address = normaliseAddress(remoteSource?.address);
    link.set_source({ address: typeof remoteSource?.address === 'string' ? remoteSource.address : address });
    if (typeof remoteTarget?.address === 'string') link.set_target({ address: remoteTarget.address });
    const internals = link as unknown as SenderInternals;

    if (address === CBS_ADDRESS || address.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) {
      this.nodes.addReplyLink(connection, link);
      return;
    }
    const entity = this.entities.receivable.get(address.toLowerCase());
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
  onClientSenderAttached(link: Receiver, connection: Connection): void {
    const remoteTarget = link.target as { address?: unknown } | undefined;
    const remoteSource = link.source as { address?: unknown } | undefined;
    const address = normaliseAddress(remoteTarget?.address);
    link.set_target({ address: typeof remoteTarget?.address === 'string' ? remoteTarget.address : address });
    if (typeof remoteSource?.address === 'string') link.set_source({ address: remoteSource.address });
    (link as unknown as ReceiverInternals).local.attach.max_message_size = MAX_MESSAGE_SIZE_BYTES;

    if (address === CBS_ADDRESS) {
      link.on('message', (ctx: EventContext) => {
        ctx.delivery?.accept();
        this.nodes.onCbsRequest(ctx.message, connection);
      });
      return;
    }
    if (address.toLowerCase().endsWith(MANAGEMENT_SUFFIX)) {
      const entityPath = address.slice(0, -MANAGEMENT_SUFFIX.length);
      const target = this.entities.resolveEntityPath(entityPath);
      if (!target) {
        this.refuse(link, `The messaging entity '${entityPath}' could not be found.`);
        return;
      }
      link.on('message', (ctx: EventContext) => {
        ctx.delivery?.accept();
        this.nodes.onManagementRequest(target, ctx.message, connection);
      });
      return;
    }
    const target = this.entities.sendTarget(address);
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
        for (const message of messages) this.entities.ingest(target, message);
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

  /** A client closed a link the broker sends on. */
  detachSender(link: Sender, connection: Connection): void {
    this.nodes.removeReplyLink(connection, link);
    for (const entity of this.entities.receivable.values()) {
      entity.consumers = entity.consumers.filter((c) => c.link !== link);
    }
  }

  /** A connection went away: its receivers stop receiving. */
  dropConnection(connection: Connection): void {
    for (const entity of this.entities.receivable.values()) {
      // Locks held by the connection's receivers stay until they expire, as in Service Bus.
      entity.consumers = entity.consumers.filter((c) => c.link.connection !== connection);
    }
  }

  // ---------------------------------------------------------------- deliveries out

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
  pump(entity: Entity): void {
    if (this.entities.stopped) return;
    // Index walk without copying: deliveries and expiry may remove the current message.
    let i = 0;
    while (i < entity.messages.length) {
      const stored = entity.messages[i];
      if (stored === undefined) break;
      if (stored.state !== 'active') {
        i++;
        continue;
      }
      if (this.entities.isExpired(stored)) {
        // A message whose lock ended after its expiry time goes now instead of being delivered.
        this.entities.expireMessage(entity, stored);
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

  private deliver(consumer: Consumer, stored: StoredMessage): void {
    const entity = consumer.entity;
    const tag = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
    consumer.sent++;
    if (consumer.receiveAndDelete) {
      this.entities.remove(entity, stored);
      consumer.link.send(this.entities.outgoing(stored, stored.attempts, undefined), tag);
      return;
    }
    const deliveryCount = stored.attempts;
    const lock = this.entities.lock(entity, stored, tag.toString('hex'));
    const delivery = consumer.link.send(this.entities.outgoing(stored, deliveryCount, lock.until), tag);
    this.deliveryLocks.set(delivery, lock);
  }

  // ---------------------------------------------------------------- settlement

  private onOutcome(delivery: Delivery): void {
    if (delivery.settled) return;
    const lock = this.deliveryLocks.get(delivery);
    if (!lock || !this.entities.holds(lock)) {
      delivery.update(
        true,
        outcomes
          .rejected({
            error: {
              condition: CONDITION_LOCK_LOST,
              description: LOCK_LOST_DESCRIPTION,
            },
          })
          .described(),
      );
      forgetSettled(delivery);
      return;
    }
    this.entities.releaseLock(lock);
    const { entity, stored } = lock;
    const state = asRecord(delivery.remote_state);
    switch (outcomeType(delivery)) {
      case 'accepted':
        this.entities.remove(entity, stored);
        break;
      case 'rejected': {
        const error = asRecord(state.error);
        const info = asRecord(error.info);
        this.entities.deadLetter(entity, stored, {
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
          this.entities.defer(stored);
        } else {
          this.entities.abandon(entity, stored, asRecord(state.message_annotations));
        }
        break;
      default:
        this.entities.abandon(entity, stored, {});
        break;
    }
    delivery.update(true, outcomes.accepted().described());
    forgetSettled(delivery);
    this.pump(entity);
  }
}
