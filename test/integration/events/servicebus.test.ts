import { afterEach, expect, test } from 'vitest';
import { startServiceBusBroker, type ServiceBusBroker } from '../../../devhost/servicebus/index.js';
import { closeEventSenders, createCloudEvent, publishCloudEvent } from '../../../src/shared/events/index.js';
import { testConfig, waitFor } from '../../../devhost/test/servicebus/support.js';

let broker: ServiceBusBroker | undefined;

afterEach(async () => {
  await closeEventSenders();
  await broker?.stop();
  broker = undefined;
});

const event = (id: string) =>
  createCloudEvent({ id, type: 'com.dmf-functions.import.completed', time: new Date(), data: { id } });

test('events go out on one kept connection, closed by closeEventSenders', async () => {
  broker = await startServiceBusBroker({ config: testConfig() });
  const connection = { kind: 'connectionString' as const, connectionString: broker.connectionString };
  for (const id of ['imp-1', 'imp-2', 'imp-3']) await publishCloudEvent(connection, 't', event(id));
  const s1 = (): number =>
    broker!.entities().find((e) => e.path === 't/Subscriptions/s1')!.activeMessageCount;
  expect(s1()).toBe(3);
  // three events, one connection still open for the next one
  expect(broker.openConnections()).toBe(1);
  await closeEventSenders();
  await waitFor(() => broker!.openConnections() === 0, 5_000, 'the kept connection to close');
});
