import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { QueueServiceClient } from '@azure/storage-queue';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createVirtualClock, startHost } from '../index.js';
import type { RunningHost, VirtualClock } from '../index.js';
import { BLOB_POISON_QUEUE } from '../triggers/blob.js';
import { parseSchedule } from '../triggers/timer.js';

interface TriggerProbe {
  timer: { isPastDue: boolean; last: string }[];
  startup: number;
  blobs: { name: string; content: string; blobTrigger: string }[];
  poisonAttempts: number;
  retries?: number[];
}
const probe = (): TriggerProbe =>
  (globalThis as unknown as { __devhostTriggers: TriggerProbe }).__devhostTriggers;
const appRoot = join(import.meta.dirname, 'fixtures', 'triggers-app');
const connectionString = inject('azuriteConnectionString');

let dataDir: string;
let hosts: RunningHost[] = [];

async function start(clock: VirtualClock, extra: { pollMs?: number } = {}): Promise<RunningHost> {
  const host = await startHost({
    appRoot,
    dataDir,
    clock,
    logger: (level, category, fn, message) => {
      if (process.env.DEVHOST_DEBUG) console.log(level, category, fn, message);
    },
    env: { AzureWebJobsStorage: connectionString },
    blobPollIntervalMs: extra.pollMs ?? 60_000,
  });
  hosts.push(host);
  return host;
}

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'devhost-triggers-'));
  hosts = [];
  const p = (globalThis as unknown as { __devhostTriggers?: TriggerProbe }).__devhostTriggers;
  if (p) Object.assign(p, { timer: [], startup: 0, blobs: [], poisonAttempts: 0, retries: [] });
});

afterEach(async () => {
  for (const h of hosts) await h.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('timer trigger', () => {
  it('parses 6-field NCRONTAB (UTC) and TimeSpan schedules', () => {
    const next = parseSchedule('0 */5 * * * *');
    expect(new Date(next(Date.parse('2030-01-01T00:01:00Z'))).toISOString()).toBe('2030-01-01T00:05:00.000Z');
    expect(parseSchedule('00:00:30')(0)).toBe(30_000);
    expect(() => parseSchedule('*/5 * * * *')).toThrow();
  });

  it('fires on schedule with the host clock, runs runOnStartup functions, and reports missed runs as past due after a restart', async () => {
    const clock = createVirtualClock({ start: Date.parse('2030-01-01T00:01:00Z'), autoAdvance: false });
    const host = await start(clock);
    await expect.poll(() => probe().startup, { timeout: 10_000 }).toBe(1);
    expect(probe().timer).toHaveLength(0);
    clock.advanceTo(Date.parse('2030-01-01T00:05:00Z'));
    await expect
      .poll(() => probe().timer, { timeout: 10_000 })
      .toEqual([{ isPastDue: false, last: '2030-01-01T00:05:00.000Z' }]);

    await host.stop();
    clock.advanceTo(Date.parse('2030-01-01T00:17:00Z')); // 00:10 and 00:15 are missed while down
    await start(clock);
    await expect.poll(() => probe().timer.length, { timeout: 10_000 }).toBe(2);
    expect(probe().timer[1]).toEqual({ isPastDue: true, last: '2030-01-01T00:10:00.000Z' });
  });
});

describe('admin endpoint', () => {
  it('runs a timer function on demand with POST /admin/functions/{name} and the key', async () => {
    const clock = createVirtualClock({ start: Date.parse('2030-01-01T00:01:00Z'), autoAdvance: false });
    const host = await start(clock);
    expect((await fetch(`${host.baseUrl}/admin/functions/everyFiveMinutes`, { method: 'POST' })).status).toBe(
      401,
    );
    const res = await fetch(`${host.baseUrl}/admin/functions/everyFiveMinutes`, {
      method: 'POST',
      headers: { 'x-functions-key': host.functionsKey },
    });
    expect(res.status).toBe(202);
    await expect.poll(() => probe().timer.length, { timeout: 10_000 }).toBe(1);
    expect(
      (
        await fetch(`${host.baseUrl}/admin/functions/nope`, {
          method: 'POST',
          headers: { 'x-functions-key': host.functionsKey },
        })
      ).status,
    ).toBe(404);
  });
});

describe('timer trigger retry policy', () => {
  it('retries a failing timer function per its fixedDelay policy on the host clock, with retryContext', async () => {
    const clock = createVirtualClock({ start: Date.parse('2030-01-01T00:59:00Z'), autoAdvance: false });
    await start(clock);
    clock.advanceTo(Date.parse('2030-01-01T01:00:00Z'));
    await expect.poll(() => probe().retries, { timeout: 10_000 }).toEqual([0]);
    await expect.poll(() => clock.pendingTimers(), { timeout: 10_000 }).toBe(4); // 3 schedules + the retry delay
    clock.advance(30_000);
    await expect.poll(() => probe().retries, { timeout: 10_000 }).toEqual([0, 1]);
    await expect.poll(() => clock.pendingTimers(), { timeout: 10_000 }).toBe(4); // 3 schedules + the retry delay
    clock.advance(30_000);
    await expect.poll(() => probe().retries, { timeout: 10_000 }).toEqual([0, 1, 2]);
  });
});

describe('blob trigger', () => {
  it('delivers each blob version once, binds {name}, writes outputs, and keeps receipts across a restart', async () => {
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const incoming = service.getContainerClient('incoming');
    await incoming.createIfNotExists();
    await incoming.getBlockBlobClient('orders.csv').upload('a,b\n1,2\n', 8);
    await incoming.getBlockBlobClient('ignored.txt').upload('x', 1);
    const clock = createVirtualClock({ autoAdvance: false });
    const host = await start(clock);
    await host.blobTriggers.scanNow();
    await host.blobTriggers.scanNow();
    expect(probe().blobs).toEqual([
      { name: 'orders', content: 'a,b\n1,2\n', blobTrigger: 'incoming/orders.csv' },
    ]);
    const out = await service.getContainerClient('processed').getBlobClient('orders.txt').downloadToBuffer();
    expect(out.toString()).toBe('seen 8 bytes');

    await host.stop();
    const again = await start(clock);
    await again.blobTriggers.scanNow();
    expect(probe().blobs).toHaveLength(1);

    // A new version (new ETag) of the same blob is delivered again.
    await incoming.getBlockBlobClient('orders.csv').upload('a,b\n3,4\n', 8);
    await again.blobTriggers.scanNow();
    expect(probe().blobs.map((b) => b.content)).toEqual(['a,b\n1,2\n', 'a,b\n3,4\n']);
  });

  it('retries a failing blob 5 times, then writes a poison message and stops', async () => {
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const poison = service.getContainerClient('poison');
    await poison.createIfNotExists();
    await poison.getBlockBlobClient('bad.bin').upload('zz', 2);
    const host = await start(createVirtualClock({ autoAdvance: false }));
    for (let i = 0; i < 7; i++) await host.blobTriggers.scanNow();
    expect(probe().poisonAttempts).toBe(5);
    const queue = QueueServiceClient.fromConnectionString(connectionString).getQueueClient(BLOB_POISON_QUEUE);
    const peeked = await queue.peekMessages({ numberOfMessages: 32 });
    const messages = peeked.peekedMessageItems.map(
      (m) => JSON.parse(Buffer.from(m.messageText, 'base64').toString()) as Record<string, string>,
    );
    expect(messages).toContainEqual(
      expect.objectContaining({
        FunctionId: 'Host.Functions.alwaysFails',
        ContainerName: 'poison',
        BlobName: 'bad.bin',
      }),
    );
  });

  it('binds a durable client in a blob trigger; the started orchestration’s activity writes its blob output', async () => {
    const service = BlobServiceClient.fromConnectionString(connectionString);
    const jobs = service.getContainerClient('jobs');
    await jobs.createIfNotExists();
    await jobs.getBlockBlobClient('job42.json').upload('{"a":40,"b":2}', 14);
    const host = await start(createVirtualClock());
    await host.blobTriggers.scanNow();
    const status = await host.durable.waitForCompletion('job42', 15_000);
    expect(status).toMatchObject({ runtimeStatus: 'Completed', output: 42, input: { a: 40, b: 2 } });
    const written = await service
      .getContainerClient('results')
      .getBlobClient('job-output.txt')
      .downloadToBuffer();
    expect(written.toString()).toBe('total=42');
  });
});
