/**
 * The drain's dequeue-and-store activity against the emulator and Azurite (through a proxy that
 * injects storage errors): a storage failure on one message mid-drain is that message's failure
 * (left un-acked, so F&O offers it again), never an unhandled rejection that would kill the host,
 * and the messages dequeued around it are stored; once storage is back the message is stored once.
 */
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningEmulator } from '@dmf-functions/emulator';
import { dequeueBatch } from '../../../src/activities/recurring/drain.js';
import type { Runtime } from '../../../src/shared/app/runtime.js';
import type { Logger } from '../../../src/shared/log/index.js';
import { clientsFor, startTestEmulator } from '../dmf/emulator-setup.js';
import { startStorageFaultProxy, type StorageFaultProxy } from '../../support/storage-proxy.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;

let emu: RunningEmulator;
let proxy: StorageFaultProxy;
let outbound: ContainerClient;
let runtime: Runtime;
let activityId: string;

beforeAll(async () => {
  emu = await startTestEmulator({ visibilityTimeoutMs: 60_000 });
  activityId = emu.recurring.exportActivityId!;
  proxy = await startStorageFaultProxy(inject('azuriteConnectionString'));
  // one attempt per storage call: the SDK's own retries (seconds of backoff) would only slow the test
  outbound = BlobServiceClient.fromConnectionString(proxy.connectionString, {
    retryOptions: { maxTries: 1 },
  }).getContainerClient(`drain-storage-${Date.now()}`);
  const clients = clientsFor(emu);
  runtime = { containers: { outbound }, clients: () => clients } as unknown as Runtime;
});
afterAll(async () => {
  await outbound?.deleteIfExists();
  await proxy?.close();
  await emu?.stop();
});
afterEach(async () => {
  proxy.clear();
  await emu.control.clearFaults();
});

describe('drain: a storage error mid-drain', () => {
  it('fails only that message, rejects nothing unhandled, and stores it once when storage is back', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const { messageId } = await emu.control.seedExportMessage({
        activityId,
        fileName: `s-${i}.csv`,
        content: `A,B\r\nS-${i},x\r\n`,
      });
      ids.push(messageId.toLowerCase());
    }
    const broken = ids[2]!;
    proxy.fail((req) => req.path.endsWith(`/${broken}`));
    // dequeues take a while, so the failure lands while the loop waits for the next one
    await emu.control.setFault({ route: 'dequeue', kind: 'latency', ms: 30 });

    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    let outcome: { result: Awaited<ReturnType<typeof dequeueBatch>> } | { error: unknown };
    try {
      outcome = await dequeueBatch(runtime, { environment: 'default', activityId, max: 10 }, silent).then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      // an unhandled rejection is reported after the microtasks of its turn: give it a few turns
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(proxy.failed.length).toBeGreaterThan(0);
    expect(unhandled.map(String)).toEqual([]);
    if ('error' in outcome) throw outcome.error;
    const { result } = outcome;
    expect(result.empty).toBe(true);
    const byId = new Map(result.items.map((item) => [item.message.correlationId.toLowerCase(), item]));
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    const failed = byId.get(broken);
    expect(failed?.kind).toBe('failed');
    expect(failed?.kind === 'failed' ? failed.error : '').toMatch(/InternalError|500/);
    for (const id of ids.filter((i) => i !== broken)) expect(byId.get(id)?.kind).toBe('stored');

    // storage is back; F&O offers the un-acked message again after its visibility timeout
    proxy.clear();
    await emu.control.advanceClock(61_000);
    const again = await dequeueBatch(runtime, { environment: 'default', activityId, max: 10 }, silent);
    // the others were never acked either (this test calls no ack): they come back as already stored
    const kinds = new Map(again.items.map((item) => [item.message.correlationId.toLowerCase(), item.kind]));
    expect(kinds.get(broken)).toBe('stored');
    expect([...kinds.entries()].filter(([id]) => id !== broken).map(([, k]) => k)).toEqual(
      Array(ids.length - 1).fill('alreadyStored'),
    );
    const names: string[] = [];
    for await (const blob of outbound.listBlobsFlat()) names.push(blob.name.split('/').pop()!);
    expect(names.sort()).toEqual([...ids].sort());
  });
});

describe('drain: dequeues in flight and conditional writes', () => {
  async function seed(count: number, tag: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const { messageId } = await emu.control.seedExportMessage({
        activityId,
        fileName: `${tag}-${i}.csv`,
        content: `A,B\r\n${tag}-${i},x\r\n`,
      });
      ids.push(messageId.toLowerCase());
    }
    return ids;
  }
  const pathOf = (id: string) => `default/recurring/${activityId}/${id}`;

  it('pops each message once with 4 dequeues in flight, and never overwrites a blob already there', async () => {
    const ids = await seed(12, 'C');
    // a blob of the same name exists (a first delivery finds it): the write is refused, not repeated
    await outbound.createIfNotExists();
    await outbound.getBlockBlobClient(pathOf(ids[5]!)).upload('kept', 4);
    await emu.control.setFault({ route: 'dequeue', kind: 'latency', ms: 50 });
    const before = (await emu.control.calls()).length;
    const clients = runtime.clients('default');
    let inFlight = 0;
    let most = 0;
    const counting = {
      ...runtime,
      clients: () => ({
        ...clients,
        recurring: {
          download: (m: Parameters<typeof clients.recurring.download>[0]) => clients.recurring.download(m),
          dequeue: async (activity: string) => {
            most = Math.max(most, ++inFlight);
            try {
              return await clients.recurring.dequeue(activity);
            } finally {
              inFlight--;
            }
          },
        },
      }),
    } as unknown as Runtime;
    const result = await dequeueBatch(
      counting,
      { environment: 'default', activityId, max: 12, concurrency: 4 },
      silent,
    );
    const calls = (await emu.control.calls()).slice(before);
    expect(result.items.map((i) => i.message.correlationId.toLowerCase()).sort()).toEqual([...ids].sort());
    expect(result.items.find((i) => i.message.correlationId.toLowerCase() === ids[5])?.kind).toBe(
      'alreadyStored',
    );
    expect(result.items.filter((i) => i.kind === 'stored')).toHaveLength(11);
    expect((await outbound.getBlobClient(pathOf(ids[5]!)).downloadToBuffer()).toString()).toBe('kept');
    // exactly max dequeues, 4 of them in flight at once
    expect(calls.filter((c) => c.route === 'dequeue')).toHaveLength(12);
    expect(most).toBe(4);
    expect(result.empty).toBe(false);
  });

  it('stores a message F&O offers again within the batch once, and reports its newest PopReceipt', async () => {
    await emu.control.setOptions({ visibilityTimeoutMs: 1_000 });
    try {
      const [id] = await seed(1, 'R');
      // the store is slow enough for the visibility timeout (emulator clock) to run out meanwhile
      await emu.control.setFault({ route: 'download', kind: 'latency', ms: 300 });
      const dequeues: string[] = [];
      const clients = runtime.clients('default');
      const recurring = clients.recurring;
      const slowRuntime = {
        ...runtime,
        clients: () => ({
          ...clients,
          recurring: {
            dequeue: async (activity: string) => {
              const m = await recurring.dequeue(activity);
              if (m) {
                dequeues.push(m.popReceipt);
                await emu.control.advanceClock(1_500);
              }
              return m;
            },
            download: (m: Parameters<typeof recurring.download>[0]) => recurring.download(m),
          },
        }),
      } as unknown as Runtime;
      const result = await dequeueBatch(
        slowRuntime,
        { environment: 'default', activityId, max: 3, concurrency: 1 },
        silent,
      );
      expect(dequeues.length).toBeGreaterThan(1);
      expect(result.items).toHaveLength(1);
      expect(result.items[0]).toMatchObject({ kind: 'stored', message: { correlationId: id } });
      expect(result.items[0]!.message.raw.PopReceipt).toBe(dequeues.at(-1));
      const downloads = (await emu.control.calls()).filter(
        (c) => c.route === 'download' && (c.messageId ?? '').toLowerCase() === id,
      );
      expect(downloads).toHaveLength(1);
    } finally {
      await emu.control.setOptions({ visibilityTimeoutMs: 60_000 });
    }
  });
});
