import type { ServiceBusReceivedMessage } from '@azure/service-bus';
import { afterEach, expect, test } from 'vitest';
import {
  sendServiceBusMessages,
  startServiceBusBroker,
  startServiceBusListener,
  type ServiceBusBroker,
  type ServiceBusListener,
} from '../../servicebus/index.js';
import { testConfig, waitFor } from './support.js';

let broker: ServiceBusBroker | undefined;
const listeners: ServiceBusListener[] = [];

afterEach(async () => {
  for (const l of listeners.splice(0)) await l.stop();
  await broker?.stop();
  broker = undefined;
});

function counts(b: ServiceBusBroker, path: string): ReturnType<ServiceBusBroker['entities']>[number] {
  const found = b.entities().find((e) => e.path === path);
  if (!found) throw new Error(`no entity ${path}`);
  return found;
}

test('the listener completes a message when the handler resolves', async () => {
  broker = await startServiceBusBroker({ config: testConfig() });
  const seen: ServiceBusReceivedMessage[] = [];
  listeners.push(
    await startServiceBusListener({
      connectionString: broker.connectionString,
      queueName: 'q',
      handler: async (message) => {
        seen.push(message);
      },
    }),
  );
  await sendServiceBusMessages(broker.connectionString, 'q', [{ body: { n: 1 } }, { body: { n: 2 } }]);
  await waitFor(() => seen.length === 2, 5000, 'two messages');
  const b = broker;
  await waitFor(() => counts(b, 'q').lockedMessageCount === 0, 5000, 'completion');
  expect(seen.map((m): unknown => m.body)).toEqual([{ n: 1 }, { n: 2 }]);
  expect(counts(b, 'q')).toMatchObject({ activeMessageCount: 0, deadLetterMessageCount: 0 });
});

test('the listener abandons on throw, and the broker dead-letters after MaxDeliveryCount', async () => {
  broker = await startServiceBusBroker({ config: testConfig({ queues: { q: { MaxDeliveryCount: 3 } } }) });
  const deliveryCounts: number[] = [];
  const errors: Error[] = [];
  listeners.push(
    await startServiceBusListener({
      connectionString: broker.connectionString,
      queueName: 'q',
      handler: async (message) => {
        deliveryCounts.push(message.deliveryCount ?? -1);
        throw new Error('handler failed');
      },
      onError: (error) => errors.push(error),
    }),
  );
  await sendServiceBusMessages(broker.connectionString, 'q', { body: 'poison', messageId: 'poison-1' });
  const b = broker;
  await waitFor(() => counts(b, 'q').deadLetterMessageCount === 1, 5000, 'dead-lettering');
  expect(deliveryCounts).toEqual([0, 1, 2]);
  expect(errors.map((e) => e.message)).toEqual(['handler failed', 'handler failed', 'handler failed']);
  expect(b.deadLetters('q')).toEqual([
    expect.objectContaining({ messageId: 'poison-1', deadLetterReason: 'MaxDeliveryCountExceeded' }),
  ]);
});

test('the listener reads a topic subscription', async () => {
  broker = await startServiceBusBroker({ config: testConfig() });
  const bodies: unknown[] = [];
  listeners.push(
    await startServiceBusListener({
      connectionString: broker.connectionString,
      topicName: 't',
      subscriptionName: 's2',
      maxConcurrentCalls: 2,
      handler: async (message) => {
        bodies.push(message.body);
      },
    }),
  );
  await sendServiceBusMessages(broker.connectionString, 't', { body: 'event' });
  await waitFor(() => bodies.length === 1, 5000, 'event');
  expect(bodies).toEqual(['event']);
  // s1 has no listener: its copy is still waiting.
  expect(counts(broker, 't/Subscriptions/s1').activeMessageCount).toBe(1);
});

test('the listener rejects an ambiguous or missing entity', async () => {
  broker = await startServiceBusBroker({ config: testConfig() });
  const handler = async (): Promise<void> => undefined;
  await expect(
    startServiceBusListener({ connectionString: broker.connectionString, handler }),
  ).rejects.toMatchObject({
    code: 'SERVICEBUS_LISTENER_ENTITY',
  });
  await expect(
    startServiceBusListener({
      connectionString: broker.connectionString,
      queueName: 'q',
      topicName: 't',
      handler,
    }),
  ).rejects.toMatchObject({ code: 'SERVICEBUS_LISTENER_ENTITY' });
  await expect(
    startServiceBusListener({ connectionString: broker.connectionString, queueName: 'typo', handler }),
  ).rejects.toMatchObject({
    code: 'SERVICEBUS_ENTITY_NOT_FOUND',
    message: 'Service Bus entity not found: typo',
  });
  await expect(
    startServiceBusListener({
      connectionString: broker.connectionString,
      topicName: 't',
      subscriptionName: 'nope',
      handler,
    }),
  ).rejects.toMatchObject({ code: 'SERVICEBUS_ENTITY_NOT_FOUND' });
});
