/**
 * The broker's request/response nodes: `$cbs` (claims-based security: the SDK puts a SAS token
 * before each link; any token is accepted, answer 202) and each entity's `$management` node
 * (renew-lock, peek, update-disposition, schedule and cancel-scheduled, receive-by-sequence-number).
 * A request arrives on a link the client sends on; the answer goes back on the client's receiver
 * link named by `reply_to`, correlated by message id.
 */
import { randomUUID } from 'node:crypto';
import rhea from 'rhea';
import type { Connection, Message, Sender } from 'rhea';
import {
  asArray,
  asRecord,
  CONDITION_LOCK_LOST,
  CONDITION_NOT_IMPLEMENTED,
  decodeMessage,
  LOCK_LOST_DESCRIPTION,
  reorderGuidBytes,
  toNumber,
} from './amqp.js';
import type { BrokerEntities, Entity, Lock, SendTarget, StoredMessage } from './entities.js';

type ManagementResponse = {
  status: number;
  description?: string;
  condition?: string;
  body?: unknown;
};

const LOCK_LOST: ManagementResponse = {
  status: 410,
  condition: CONDITION_LOCK_LOST,
  description: LOCK_LOST_DESCRIPTION,
};

/** `$cbs` and `$management` of one broker. */
export class RequestResponseNodes {
  private readonly replyLinks = new Map<Connection, Set<Sender>>();

  constructor(private readonly entities: BrokerEntities) {}

  /** A client receiver attached to `$cbs` or a `$management` node: answers go out on it. */
  addReplyLink(connection: Connection, link: Sender): void {
    const set = this.replyLinks.get(connection) ?? new Set<Sender>();
    set.add(link);
    this.replyLinks.set(connection, set);
  }

  removeReplyLink(connection: Connection, link: Sender): void {
    this.replyLinks.get(connection)?.delete(link);
  }

  dropConnection(connection: Connection): void {
    this.replyLinks.delete(connection);
  }

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

  onCbsRequest(request: Message | undefined, connection: Connection): void {
    if (!request) return;
    // Any token is accepted: the broker is a local development stand-in, not a security boundary.
    this.reply(connection, request, { status: 202, description: 'Accepted' });
  }

  onManagementRequest(target: SendTarget, request: Message | undefined, connection: Connection): void {
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
    return this.entities.locks.get(reorderGuidBytes(token).toString('hex'));
  }

  private renewLocks(body: Record<string, unknown>): ManagementResponse {
    const expirations: Date[] = [];
    for (const token of asArray(body['lock-tokens'])) {
      const lock = this.lockFromToken(token);
      if (!lock) return LOCK_LOST;
      this.entities.renewLock(lock);
      expirations.push(new Date(lock.until));
    }
    return { status: 200, body: { expirations } };
  }

  private peek(entity: Entity, body: Record<string, unknown>): ManagementResponse {
    this.entities.expire(entity);
    const from = toNumber(body['from-sequence-number']) ?? 0;
    const count = toNumber(body['message-count']) ?? 1;
    const messages = entity.messages
      .filter((m) => m.seq >= from)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, count)
      .map((m) => ({ message: rhea.message.encode(this.entities.outgoing(m, m.attempts, m.lock?.until)) }));
    // 200 with an empty list: the SDK reads `body.messages` unless its own `statusCode` key says 204.
    return { status: 200, body: { messages } };
  }

  private updateDisposition(body: Record<string, unknown>): ManagementResponse {
    const status = String(body['disposition-status']);
    const properties = asRecord(body['properties-to-modify']);
    for (const token of asArray(body['lock-tokens'])) {
      const lock = this.lockFromToken(token);
      if (!lock) return LOCK_LOST;
      this.entities.releaseLock(lock);
      switch (status) {
        case 'completed':
          this.entities.remove(lock.entity, lock.stored);
          break;
        case 'abandoned':
          this.entities.abandon(lock.entity, lock.stored, properties);
          break;
        case 'defered':
          Object.assign(
            lock.stored.message.application_properties ?? (lock.stored.message.application_properties = {}),
            properties,
          );
          this.entities.defer(lock.stored);
          break;
        case 'suspended':
          this.entities.deadLetter(lock.entity, lock.stored, {
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
      this.entities.pump(lock.entity);
    }
    return { status: 200, body: {} };
  }

  private scheduleFromManagement(target: SendTarget, body: Record<string, unknown>): ManagementResponse {
    const sequenceNumbers: number[] = [];
    for (const entry of asArray(body.messages)) {
      const encoded = asRecord(entry).message;
      if (!Buffer.isBuffer(encoded)) continue;
      sequenceNumbers.push(this.entities.ingest(target, decodeMessage(encoded)));
    }
    return {
      status: 200,
      body: {
        'sequence-numbers': rhea.types.wrap_array(sequenceNumbers, 0x81, undefined),
      },
    };
  }

  private cancelScheduled(target: SendTarget, body: Record<string, unknown>): ManagementResponse {
    for (const raw of asArray(body['sequence-numbers'])) this.entities.cancelScheduled(target, toNumber(raw));
    return { status: 200, body: {} };
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
        this.entities.remove(entity, stored);
        return { message: rhea.message.encode(this.entities.outgoing(stored, stored.attempts, undefined)) };
      }
      // Such messages are settled by lock token over this link; the SDK does not byte-swap this token.
      const token = Buffer.from(randomUUID().replace(/-/g, ''), 'hex');
      const deliveryCount = stored.attempts;
      const lock = this.entities.lock(entity, stored, reorderGuidBytes(token).toString('hex'));
      return {
        message: rhea.message.encode(this.entities.outgoing(stored, deliveryCount, lock.until)),
        'lock-token': rhea.types.wrap_uuid(token),
      };
    });
    return { status: 200, body: { messages } };
  }
}
