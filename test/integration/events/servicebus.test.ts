import { afterEach, expect, test } from 'vitest';
import { startServiceBusBroker, type ServiceBusBroker } from '@dmf-functions/devhost/servicebus';
import { closeEventSenders, createCloudEvent, publishCloudEvent } from '../../../src/shared/events/index.js';

let broker: ServiceBusBroker | undefined;

afterEach(async () => {
  await closeEventSenders();
  await broker?.stop();
  broker = undefined;
});

const event = (id: string) =>
  createCloudEvent({ id, type: 'com.dmf-functions.import.completed', time: new Date(), data: { id } });

test('events go out on one kept connection, closed by closeEventSenders', async () => {
  // The broker's default entities: topic dmf-events with subscription all.
  broker = await startServiceBusBroker();
  const connection = { kind: 'connectionString' as const, connectionString: broker.connectionString };
  for (const id of ['imp-1', 'imp-2', 'imp-3']) await publishCloudEvent(connection, 'dmf-events', event(id));
  const s1 = (): number =>
    broker!.entities().find((e) => e.path === 'dmf-events/Subscriptions/all')!.activeMessageCount;
  expect(s1()).toBe(3);
  // three events, one connection still open for the next one
  expect(broker.openConnections()).toBe(1);
  await closeEventSenders();
  await expect.poll(() => broker!.openConnections(), { timeout: 5_000 }).toBe(0);
});
