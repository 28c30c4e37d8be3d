import { ServiceBusClient, isServiceBusError, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterEach, describe, expect, test } from 'vitest';
import {
  ManualClock,
  sendServiceBusMessages,
  startServiceBusBroker,
  type BrokerClock,
  type BrokerConfig,
  type ServiceBusBroker,
} from '../../servicebus/index.js';
import { testConfig, waitFor } from './support.js';

let broker: ServiceBusBroker | undefined;
let client: ServiceBusClient | undefined;

async function start(
  config: BrokerConfig = testConfig(),
  clock?: BrokerClock,
): Promise<{ broker: ServiceBusBroker; client: ServiceBusClient }> {
  broker = await startServiceBusBroker({ config, clock });
  client = new ServiceBusClient(broker.connectionString);
  return { broker, client };
}

afterEach(async () => {
  await client?.close();
  await broker?.stop();
  client = undefined;
  broker = undefined;
});

function entity(b: ServiceBusBroker, path: string): ReturnType<ServiceBusBroker['entities']>[number] {
  const found = b.entities().find((e) => e.path === path);
  if (!found) throw new Error(`no entity ${path}`);
  return found;
}

/** Receives exactly `count` messages (returns early when they are there). */
async function receive(
  c: ServiceBusClient,
  path: string,
  count: number,
  subscription?: string,
): Promise<ServiceBusReceivedMessage[]> {
  const receiver = subscription === undefined ? c.createReceiver(path) : c.createReceiver(path, subscription);
  const messages = await receiver.receiveMessages(count, { maxWaitTimeInMs: 5000 });
  return messages;
}

describe('Service Bus broker through @azure/service-bus', () => {
  test('listens on a random loopback port and hands out an emulator connection string', async () => {
    const { broker: b } = await start();
    expect(b.port).toBeGreaterThan(0);
    expect(b.port).not.toBe(5672);
    expect(b.connectionString).toBe(
      `Endpoint=sb://127.0.0.1:${b.port};SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true`,
    );
  });

  test('send, receive and complete a message with the broker annotations the SDK reads', async () => {
    const { broker: b, client: c } = await start();
    const before = Date.now();
    await c.createSender('q').sendMessages({
      body: { hello: 'world' },
      messageId: 'm-1',
      subject: 'greeting',
      applicationProperties: { tenant: 'usmf' },
    });
    const receiver = c.createReceiver('q');
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(message?.body).toEqual({ hello: 'world' });
    expect(message?.messageId).toBe('m-1');
    expect(message?.subject).toBe('greeting');
    expect(message?.applicationProperties).toEqual({ tenant: 'usmf' });
    expect(message?.deliveryCount).toBe(0);
    expect(message?.sequenceNumber?.toNumber()).toBeGreaterThan(0);
    expect(message?.enqueuedTimeUtc?.getTime()).toBeGreaterThanOrEqual(before - 1000);
    expect(message?.lockToken).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(message?.lockedUntilUtc?.getTime()).toBeGreaterThan(Date.now() + 20_000);
    expect(entity(b, 'q')).toMatchObject({ activeMessageCount: 0, lockedMessageCount: 1 });

    await receiver.completeMessage(message!);
    expect(entity(b, 'q')).toMatchObject({
      activeMessageCount: 0,
      lockedMessageCount: 0,
      deadLetterMessageCount: 0,
    });
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);
  });

  test('a batch keeps its order and the broker stamps a MessageId when the sender set none', async () => {
    const { client: c } = await start();
    await sendServiceBusMessages(broker!.connectionString, 'q', [
      { body: 'a' },
      { body: 'b' },
      { body: 'c', messageId: 'given' },
    ]);
    const messages = await receive(c, 'q', 3);
    expect(messages.map((m): unknown => m.body)).toEqual(['a', 'b', 'c']);
    expect(typeof messages[0]?.messageId).toBe('string');
    expect(messages[0]?.messageId).not.toBe('');
    expect(messages[0]?.messageId).not.toBe(messages[1]?.messageId);
    expect(messages[2]?.messageId).toBe('given');
    const seq = messages.map((m) => m.sequenceNumber!.toNumber());
    expect(seq).toEqual([...seq].sort((x, y) => x - y));
  });

  test('abandon makes the message available again with deliveryCount + 1', async () => {
    const { client: c } = await start();
    await c.createSender('q').sendMessages({ body: 'retry me', messageId: 'r-1' });
    const receiver = c.createReceiver('q');
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    await receiver.abandonMessage(first!, { reason: 'try-again' });
    const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(second?.messageId).toBe('r-1');
    expect(second?.deliveryCount).toBe(1);
    expect(second?.applicationProperties).toEqual({ reason: 'try-again' });
    expect(second?.lockToken).not.toBe(first?.lockToken);
    await receiver.completeMessage(second!);
  });

  test('dead-letter with reason and description is readable from the dead-letter queue', async () => {
    const { broker: b, client: c } = await start();
    await c
      .createSender('q')
      .sendMessages({ body: { bad: true }, messageId: 'd-1', applicationProperties: { keep: 'me' } });
    const receiver = c.createReceiver('q');
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    await receiver.deadLetterMessage(message!, {
      deadLetterReason: 'ValidationFailed',
      deadLetterErrorDescription: 'entity USMF missing',
    });
    expect(entity(b, 'q')).toMatchObject({
      activeMessageCount: 0,
      lockedMessageCount: 0,
      deadLetterMessageCount: 1,
    });

    const dlq = c.createReceiver('q', { subQueueType: 'deadLetter' });
    const [dead] = await dlq.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(dead?.messageId).toBe('d-1');
    expect(dead?.body).toEqual({ bad: true });
    expect(dead?.deadLetterReason).toBe('ValidationFailed');
    expect(dead?.deadLetterErrorDescription).toBe('entity USMF missing');
    expect(dead?.deadLetterSource).toBe('q');
    expect(dead?.applicationProperties?.keep).toBe('me');
    await dlq.completeMessage(dead!);
    expect(entity(b, 'q').deadLetterMessageCount).toBe(0);
  });

  test('after MaxDeliveryCount deliveries an abandoned message moves to the dead-letter queue', async () => {
    const { broker: b, client: c } = await start(testConfig({ queues: { q2: { MaxDeliveryCount: 2 } } }));
    await c.createSender('q2').sendMessages({ body: 'poison', messageId: 'p-1' });
    const receiver = c.createReceiver('q2');
    for (let attempt = 0; attempt < 2; attempt++) {
      const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
      expect(message?.deliveryCount).toBe(attempt);
      await receiver.abandonMessage(message!);
    }
    expect(entity(b, 'q2')).toMatchObject({ activeMessageCount: 0, deadLetterMessageCount: 1 });
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);
    expect(b.deadLetters('q2')).toEqual([
      expect.objectContaining({
        messageId: 'p-1',
        body: 'poison',
        deadLetterReason: 'MaxDeliveryCountExceeded',
        deadLetterErrorDescription: 'Message could not be consumed after 2 delivery attempts.',
        deliveryCount: 2,
      }),
    ]);
    const [dead] = await receive(c, 'q2/$DeadLetterQueue', 1);
    expect(dead?.deadLetterReason).toBe('MaxDeliveryCountExceeded');
  });

  test('a topic fans out to every subscription; subscription dead-letter queues are separate', async () => {
    const { broker: b, client: c } = await start();
    await c.createSender('t').sendMessages({ body: { event: 'import-finished' }, messageId: 'e-1' });
    const [m1] = await receive(c, 't', 1, 's1');
    const r2 = c.createReceiver('t', 's2');
    const [m2] = await r2.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(m1?.body).toEqual({ event: 'import-finished' });
    expect(m2?.body).toEqual({ event: 'import-finished' });
    expect(m2?.messageId).toBe('e-1');
    await r2.deadLetterMessage(m2!, {
      deadLetterReason: 'NoHandler',
      deadLetterErrorDescription: 'nobody listens',
    });
    expect(entity(b, 't/Subscriptions/s2').deadLetterMessageCount).toBe(1);
    expect(entity(b, 't/Subscriptions/s1').deadLetterMessageCount).toBe(0);
    const [dead] = await c
      .createReceiver('t', 's2', { subQueueType: 'deadLetter' })
      .receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(dead?.deadLetterReason).toBe('NoHandler');
    expect(dead?.deadLetterSource).toBe('t/Subscriptions/s2');
  });

  test('correlation filters route only matching messages to a subscription', async () => {
    const { broker: b, client: c } = await start(
      testConfig({
        subscriptions: [
          { Name: 'all', Properties: { LockDuration: 'PT30S' } },
          {
            Name: 'exports',
            Properties: { LockDuration: 'PT30S' },
            Rules: [
              {
                Name: 'only-exports',
                Properties: {
                  FilterType: 'Correlation',
                  CorrelationFilter: { Label: 'export', Properties: { company: 'usmf' } },
                },
              },
            ],
          },
        ],
      }),
    );
    await c.createSender('t').sendMessages([
      { body: 1, subject: 'export', applicationProperties: { company: 'usmf' } },
      { body: 2, subject: 'import', applicationProperties: { company: 'usmf' } },
      { body: 3, subject: 'export', applicationProperties: { company: 'demf' } },
    ]);
    expect(entity(b, 't/Subscriptions/all').activeMessageCount).toBe(3);
    expect(entity(b, 't/Subscriptions/exports').activeMessageCount).toBe(1);
    const [only] = await receive(c, 't', 1, 'exports');
    expect(only?.body).toBe(1);
  });

  test('a scheduled message is delivered at its time, and a cancelled one never is', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const { broker: b, client: c } = await start(testConfig(), clock);
    const sender = c.createSender('q');
    const at = new Date(clock.now() + 60_000);
    const [keepSeq] = await sender.scheduleMessages({ body: 'later', messageId: 's-1' }, at);
    const [cancelSeq] = await sender.scheduleMessages({ body: 'never' }, at);
    await sender.sendMessages({
      body: 'via property',
      scheduledEnqueueTimeUtc: new Date(clock.now() + 120_000),
    });
    expect(keepSeq!.toNumber()).not.toBe(cancelSeq!.toNumber());
    await sender.cancelScheduledMessages(cancelSeq!);
    expect(entity(b, 'q')).toMatchObject({ activeMessageCount: 0, scheduledMessageCount: 2 });

    const receiver = c.createReceiver('q');
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 100 })).toEqual([]);
    clock.advance(60_000);
    const [due] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(due?.body).toBe('later');
    expect(due?.sequenceNumber?.toNumber()).toBe(keepSeq!.toNumber());
    expect(due?.scheduledEnqueueTimeUtc?.getTime()).toBe(at.getTime());
    expect(due?.enqueuedTimeUtc?.getTime()).toBe(at.getTime());
    expect(entity(b, 'q').scheduledMessageCount).toBe(1);
    await receiver.completeMessage(due!);
    clock.advance(60_000);
    const [second] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(second?.body).toBe('via property');
    expect(entity(b, 'q')).toMatchObject({ scheduledMessageCount: 0, activeMessageCount: 0 });
  });

  test('an expired lock makes the message available again; settling with the stale lock fails', async () => {
    const clock = new ManualClock();
    const { client: c } = await start(testConfig(), clock);
    await c.createSender('q').sendMessages({ body: 'slow', messageId: 'l-1' });
    const receiver = c.createReceiver('q');
    const [first] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    clock.advance(30_000);
    const [again] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(again?.messageId).toBe('l-1');
    expect(again?.deliveryCount).toBe(1);
    const error: unknown = await receiver.completeMessage(first!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isServiceBusError(error) && error.code).toBe('MessageLockLost');
    await receiver.completeMessage(again!);
  });

  test('renewing the lock keeps the message locked past its original expiry', async () => {
    const clock = new ManualClock();
    const { broker: b, client: c } = await start(testConfig(), clock);
    await c.createSender('q').sendMessages({ body: 'long job' });
    const receiver = c.createReceiver('q');
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    clock.advance(20_000);
    const lockedUntil = await receiver.renewMessageLock(message!);
    expect(lockedUntil.getTime()).toBe(clock.now() + 30_000);
    clock.advance(20_000);
    expect(entity(b, 'q')).toMatchObject({ lockedMessageCount: 1, activeMessageCount: 0 });
    await receiver.completeMessage(message!);
    expect(entity(b, 'q')).toMatchObject({ lockedMessageCount: 0, activeMessageCount: 0 });

    clock.advance(60_000);
    const error: unknown = await receiver.renewMessageLock(message!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isServiceBusError(error) && error.code).toBe('MessageLockLost');
  });

  test('receiveAndDelete removes the message on delivery', async () => {
    const { broker: b, client: c } = await start();
    await c.createSender('q').sendMessages([{ body: 1 }, { body: 2 }]);
    const receiver = c.createReceiver('q', { receiveMode: 'receiveAndDelete' });
    const messages = await receiver.receiveMessages(2, { maxWaitTimeInMs: 5000 });
    expect(messages.map((m): unknown => m.body)).toEqual([1, 2]);
    expect(entity(b, 'q')).toMatchObject({ activeMessageCount: 0, lockedMessageCount: 0 });
    expect(await c.createReceiver('q').receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);
  });

  test('peek returns messages without locking them', async () => {
    const { broker: b, client: c } = await start();
    await c.createSender('q').sendMessages([{ body: 'p1' }, { body: 'p2' }]);
    const receiver = c.createReceiver('q');
    const peeked = await receiver.peekMessages(5);
    expect(peeked.map((m): unknown => m.body)).toEqual(['p1', 'p2']);
    expect(entity(b, 'q')).toMatchObject({ activeMessageCount: 2, lockedMessageCount: 0 });
    expect(await receiver.peekMessages(5)).toEqual([]);
  });

  test('sending to or receiving from an undeclared entity fails with MessagingEntityNotFound', async () => {
    const { client: c } = await start();
    const sendError: unknown = await c
      .createSender('nope')
      .sendMessages({ body: 1 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isServiceBusError(sendError) && sendError.code).toBe('MessagingEntityNotFound');
    const receiveError: unknown = await c
      .createReceiver('nope')
      .receiveMessages(1, { maxWaitTimeInMs: 1000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isServiceBusError(receiveError) && receiveError.code).toBe('MessagingEntityNotFound');
  });

  test('a deferred message is only handed out again by sequence number', async () => {
    const { broker: b, client: c } = await start();
    await c.createSender('q').sendMessages({ body: 'later please', messageId: 'def-1' });
    const receiver = c.createReceiver('q');
    const [message] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    await receiver.deferMessage(message!);
    expect(entity(b, 'q')).toMatchObject({ activeMessageCount: 0, deferredMessageCount: 1 });
    expect(await receiver.receiveMessages(1, { maxWaitTimeInMs: 200 })).toEqual([]);

    const [deferred] = await receiver.receiveDeferredMessages(message!.sequenceNumber!);
    expect(deferred?.messageId).toBe('def-1');
    expect(deferred?.state).toBe('deferred');
    expect(deferred?.deliveryCount).toBe(1);
    await receiver.completeMessage(deferred!);
    expect(entity(b, 'q')).toMatchObject({
      activeMessageCount: 0,
      deferredMessageCount: 0,
      lockedMessageCount: 0,
    });
  });

  test('expired messages are dead-lettered when the entity says so, dropped otherwise', async () => {
    const clock = new ManualClock();
    const { broker: b, client: c } = await start(
      testConfig({
        queues: {
          keep: { DefaultMessageTimeToLive: 'PT10S', DeadLetteringOnMessageExpiration: true },
          drop: { DefaultMessageTimeToLive: 'PT10S' },
        },
      }),
      clock,
    );
    // A message's own, longer TTL is capped by the entity's default, as in Service Bus.
    await c.createSender('keep').sendMessages([{ body: 'stale' }, { body: 'capped', timeToLive: 60_000 }]);
    await c.createSender('drop').sendMessages({ body: 'stale' });
    clock.advance(11_000);
    expect(entity(b, 'keep')).toMatchObject({ activeMessageCount: 0, deadLetterMessageCount: 2 });
    expect(entity(b, 'drop')).toMatchObject({ activeMessageCount: 0, deadLetterMessageCount: 0 });
    expect(b.deadLetters('keep')).toEqual([
      expect.objectContaining({ body: 'stale', deadLetterReason: 'TTLExpiredException' }),
      expect.objectContaining({ body: 'capped', deadLetterReason: 'TTLExpiredException' }),
    ]);

    await c.createSender('keep').sendMessages({ body: 'short', timeToLive: 1_000 });
    clock.advance(2_000);
    expect(b.deadLetters('keep').map((m): unknown => m.body)).toEqual(['stale', 'capped', 'short']);
  });

  test('an empty receive is answered by the drain handshake and the link stays usable', async () => {
    const { broker: b, client: c } = await start();
    const receiver = c.createReceiver('q');
    expect(await receiver.receiveMessages(3, { maxWaitTimeInMs: 300 })).toEqual([]);
    await c.createSender('q').sendMessages({ body: 'one' });
    // Fewer messages than asked for: the SDK drains the remaining credit after the first arrives.
    const started = Date.now();
    const messages = await receiver.receiveMessages(3, { maxWaitTimeInMs: 5000 });
    expect(messages.map((m): unknown => m.body)).toEqual(['one']);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(entity(b, 'q').receiverCount).toBe(1);
    await c.createSender('q').sendMessages({ body: 'two' });
    const [next] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
    expect(next?.body).toBe('two');
  });

  test('a message above 256 KiB is refused with MessageSizeExceeded', async () => {
    const { broker: b, client: c } = await start();
    const error: unknown = await c
      .createSender('q')
      .sendMessages({ body: Buffer.alloc(300 * 1024, 1) })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isServiceBusError(error) && error.code).toBe('MessageSizeExceeded');
    expect(entity(b, 'q').activeMessageCount).toBe(0);
  });

  test('duplicate detection drops a repeated MessageId inside the window only', async () => {
    const clock = new ManualClock();
    const { broker: b, client: c } = await start(
      testConfig({
        queues: { dedup: { RequiresDuplicateDetection: true, DuplicateDetectionHistoryTimeWindow: 'PT1M' } },
      }),
      clock,
    );
    const sender = c.createSender('dedup');
    await sender.sendMessages([
      { body: 1, messageId: 'same' },
      { body: 2, messageId: 'same' },
      { body: 3 },
      { body: 4 },
    ]);
    expect(entity(b, 'dedup').activeMessageCount).toBe(3);
    clock.advance(61_000);
    await sender.sendMessages({ body: 5, messageId: 'same' });
    expect(entity(b, 'dedup').activeMessageCount).toBe(4);
    // Without duplicate detection (queue q) the same id is simply enqueued twice.
    await c.createSender('q').sendMessages([
      { body: 1, messageId: 'same' },
      { body: 2, messageId: 'same' },
    ]);
    expect(entity(b, 'q').activeMessageCount).toBe(2);
  });

  test('one receiver link can settle more messages than rhea keeps in a session buffer (2048)', async () => {
    const { broker: b, client: c } = await start();
    const total = 2100;
    const sender = c.createSender('q');
    for (let i = 0; i < total; i += 300) {
      await sender.sendMessages(
        Array.from({ length: Math.min(300, total - i) }, (_, k) => ({ body: i + k })),
      );
    }
    const receiver = c.createReceiver('q');
    let received = 0;
    while (received < total) {
      const batch = await receiver.receiveMessages(Math.min(500, total - received), {
        maxWaitTimeInMs: 5000,
      });
      expect(batch.length).toBeGreaterThan(0);
      await Promise.all(batch.map((m) => receiver.completeMessage(m)));
      received += batch.length;
    }
    expect(entity(b, 'q')).toMatchObject({ activeMessageCount: 0, lockedMessageCount: 0, receiverCount: 1 });
  });

  test('stop does not hang while SDK clients are still connected and receiving', async () => {
    const { broker: b, client: c } = await start();
    const receiver = c.createReceiver('q');
    receiver.subscribe({ processMessage: async () => undefined, processError: async () => undefined });
    await waitFor(() => entity(b, 'q').receiverCount === 1, 5000, 'receiver to attach');
    const started = Date.now();
    await b.stop();
    expect(Date.now() - started).toBeLessThan(2000);
    broker = undefined;
  });
});
