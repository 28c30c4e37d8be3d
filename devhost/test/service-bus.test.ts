import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHost } from '../index.js';
import type { RunningHost } from '../index.js';
import { sendServiceBusMessages, startServiceBusBroker } from '../servicebus/index.js';
import type { ServiceBusBroker } from '../servicebus/index.js';

interface SbProbe {
  received: {
    message: Record<string, unknown>;
    messageId: unknown;
    deliveryCount: number;
    applicationProperties: unknown;
    correlationId: unknown;
  }[];
}
const probe = (): SbProbe => (globalThis as unknown as { __devhostSb: SbProbe }).__devhostSb;
const queue = (name: string, maxDeliveryCount: number) => ({
  Name: name,
  Properties: {
    DeadLetteringOnMessageExpiration: false,
    DefaultMessageTimeToLive: 'P1D',
    LockDuration: 'PT1M',
    MaxDeliveryCount: maxDeliveryCount,
    RequiresDuplicateDetection: false,
    RequiresSession: false as const,
  },
});

let broker: ServiceBusBroker;
let host: RunningHost;
let dataDir: string;

beforeAll(async () => {
  broker = await startServiceBusBroker({
    config: {
      UserConfig: {
        Namespaces: [{ Name: 'sbemulatorns', Queues: [queue('sb-in', 3), queue('sb-out', 10)], Topics: [] }],
        Logging: { Type: 'File' },
      },
    },
  });
  dataDir = mkdtempSync(join(tmpdir(), 'devhost-sb-'));
  host = await startHost({
    appRoot: join(import.meta.dirname, 'fixtures', 'sb-app'),
    dataDir,
    logger: () => {},
    env: { ServiceBusConnection: broker.connectionString },
  });
});

afterAll(async () => {
  await host?.stop();
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('Service Bus trigger and output binding', () => {
  it('delivers the body and trigger metadata, and sends extraOutputs to the output queue', async () => {
    await sendServiceBusMessages(broker.connectionString, 'sb-in', {
      body: { n: 7 },
      messageId: 'msg-7',
      correlationId: 'corr-1',
      applicationProperties: { source: 'test' },
    });
    await expect.poll(() => probe()?.received.length ?? 0, { timeout: 10_000 }).toBe(1);
    expect(probe().received[0]).toMatchObject({
      message: { n: 7 },
      messageId: 'msg-7',
      deliveryCount: 1,
      correlationId: 'corr-1',
      applicationProperties: { source: 'test' },
    });

    const client = new ServiceBusClient(broker.connectionString);
    try {
      const receiver = client.createReceiver('sb-out', { receiveMode: 'receiveAndDelete' });
      const [forwarded] = await receiver.receiveMessages(1, { maxWaitTimeInMs: 5000 });
      expect(JSON.parse(String(forwarded?.body))).toEqual({ forwarded: 7 });
      await receiver.close();
    } finally {
      await client.close();
    }
  });

  it('abandons a message whose handler throws, so the broker dead-letters it after MaxDeliveryCount', async () => {
    await sendServiceBusMessages(broker.connectionString, 'sb-in', {
      body: { fail: true },
      messageId: 'bad-1',
    });
    await expect.poll(() => broker.deadLetters('sb-in').length, { timeout: 15_000 }).toBe(1);
    const attempts = probe()
      .received.filter((r) => r.messageId === 'bad-1')
      .map((r) => r.deliveryCount);
    expect(attempts).toEqual([1, 2, 3]);
  });
});
