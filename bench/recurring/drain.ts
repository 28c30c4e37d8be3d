/**
 * Recurring export drain benchmark (not run in CI): messages per second of the app's
 * `recurringExportDrain` orchestration on the local host, with a realistic round trip injected on
 * every F&O call (the emulator's latency fault, route `*`), against a naive sequential loop of the
 * same requests (dequeue → download → store → ack) at the same latency, in the same run.
 *
 *   npx tsx bench/recurring/drain.ts [messages=1000]
 *
 * Environment: BENCH_LATENCY_MS (default 100), BENCH_REPEATS (3), BENCH_CONCURRENCIES (dequeues in
 * flight to try, default "1,2,4,8"), BENCH_NAIVE_MESSAGES (default 200: the naive loop's rate does
 * not grow with the queue, and 1,000 messages at 3 round trips each would take 5 minutes a repeat).
 *
 * Physical limit, measured in the same run: the round trip of a no-op F&O call at the injected
 * latency (a dequeue of an empty queue, 204). A message needs one dequeue, and each dequeue in
 * flight pops one message per round trip, so `c` dequeues in flight cannot beat `c / round trip`.
 * The order of the runs alternates from one repeat to the next. Duplicates: blobs per
 * CorrelationId, downloads beyond one per message, `received` events beyond one per message.
 *
 * Needs NODE_EXTRA_CA_CERTS pointing at the emulator CA (.local/emulator/ca.pem; created on first
 * emulator start): the script re-executes itself with it when it is missing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { machineLoad, median, round1 } from '../support/figures.js';
import { join } from 'node:path';
import { ServiceBusClient } from '@azure/service-bus';
import { BlobServiceClient } from '@azure/storage-blob';
import { DEFAULT_EXPORT_ACTIVITY_ID } from '@dmf-functions/emulator';
import { readSampleConfig, startLocalStack, type LocalStack } from '@dmf-functions/devhost/stack';
import { ORCHESTRATORS } from '../../src/shared/app/names.js';
import { DEFAULT_DEQUEUE_CONCURRENCY } from '../../src/shared/config/index.js';
import { createEnvironmentClients, type RecurringClient } from '../../src/shared/dmf/index.js';
import type { DrainSummary } from '../../src/shared/jobs/index.js';
import { mapLimited } from '../../src/shared/util.js';
import { runTrustingEmulatorCa } from '../support/trust-emulator-ca.js';

const messages = Number(process.argv[2] ?? 1000);
const latencyMs = Number(process.env.BENCH_LATENCY_MS ?? 100);
const repeats = Number(process.env.BENCH_REPEATS ?? 3);
const concurrencies = (process.env.BENCH_CONCURRENCIES ?? '1,2,4,8').split(',').map(Number);
const naiveMessages = Number(process.env.BENCH_NAIVE_MESSAGES ?? 200);
const activityId = DEFAULT_EXPORT_ACTIVITY_ID;
const outbound = 'bench-outbound';
const prefix = `local/recurring/${activityId}/`;

interface RunFigures {
  what: string;
  messages: number;
  seconds: number;
  perSecond: number;
  duplicateBlobs: number;
  duplicateDownloads: number;
  duplicateEvents: number;
  missing: number;
}

const t0 = performance.now();
/** Progress on stderr (the figures go to stdout). */
const note = (text: string): void => {
  console.error(`[${((performance.now() - t0) / 1000).toFixed(1)} s] ${text}`);
};

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-bench-drain-'));
  const config = readSampleConfig();
  config.recurringActivities = [
    // a yearly schedule: the bench starts its drains itself
    {
      id: activityId,
      environment: 'local',
      direction: 'export',
      schedule: '0 0 0 1 1 *',
      maxMessagesPerRun: 1000,
    },
  ];
  const load = machineLoad();
  const stack = await startLocalStack({
    dataDir,
    dmfConfig: config,
    logger: () => undefined,
    appSettings: { DMF_OUTBOUND_CONTAINER: outbound },
  });
  note('stack started');
  const sb = new ServiceBusClient(stack.serviceBusConnectionString);
  const events = new Map<string, number>();
  const receiver = sb.createReceiver('dmf-events', 'all', { receiveMode: 'receiveAndDelete' });
  receiver.subscribe({
    processMessage: async (m) => {
      const id = String(m.messageId ?? '');
      if (!id.startsWith('rex-')) return;
      const key = id.slice(4).toLowerCase();
      events.set(key, (events.get(key) ?? 0) + 1);
    },
    processError: async () => undefined,
  });
  try {
    const control = stack.emulator.control;
    const blobService = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
    const recurring = naiveClient(stack);
    await control.setFault({ route: '*', kind: 'latency', ms: latencyMs });

    // physical limit: a no-op F&O call (dequeue of the empty queue) at the injected latency
    await recurring.dequeue(activityId); // token
    const trips: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      if (await recurring.dequeue(activityId)) throw new Error('the queue is not empty');
      trips.push(performance.now() - t);
    }
    const tripMs = median(trips);

    let seeded = 0;
    const seed = async (count: number): Promise<string[]> => {
      // seeding is not measured (and not slowed: the control API has no fault)
      const first = seeded;
      seeded += count;
      return mapLimited(
        Array.from({ length: count }, (_, i) => first + i),
        8,
        async (n) =>
          (
            await control.seedExportMessage({
              activityId,
              fileName: `bench-${n}.csv`,
              content: `A,B\r\nBENCH-${n},x\r\n`,
            })
          ).messageId.toLowerCase(),
      );
    };
    const check = async (what: string, ids: string[], seconds: number): Promise<RunFigures> => {
      const wanted = new Set(ids);
      const queues = await control.queues();
      const acked = queues.filter((q) => wanted.has(q.messageId.toLowerCase()) && q.status === 'Acked');
      const container = blobService.getContainerClient(what === 'naive' ? `${outbound}-naive` : outbound);
      let blobs = 0;
      for await (const b of container.listBlobsFlat({ prefix: what === 'naive' ? '' : prefix })) {
        if (wanted.has(b.name.split('/').pop() ?? '')) blobs++;
      }
      const downloads = (await control.calls()).filter(
        (c) => c.route === 'download' && c.status === 200 && wanted.has((c.messageId ?? '').toLowerCase()),
      ).length;
      let eventCount = 0;
      if (what !== 'naive') {
        // events arrive asynchronously: wait until each message has one (or 10 s)
        for (let waited = 0; waited < 10_000; waited += 100) {
          eventCount = ids.reduce((n, id) => n + (events.get(id) ?? 0), 0);
          if (ids.every((id) => events.has(id))) break;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      return {
        what,
        messages: ids.length,
        seconds: round1(seconds),
        perSecond: round1(ids.length / seconds),
        duplicateBlobs: Math.max(0, blobs - ids.length),
        duplicateDownloads: Math.max(0, downloads - ids.length),
        duplicateEvents: what === 'naive' ? 0 : Math.max(0, eventCount - ids.length),
        missing: ids.length - acked.length + (ids.length - Math.min(blobs, ids.length)),
      };
    };

    const runNaive = async (): Promise<RunFigures> => {
      const ids = await seed(naiveMessages);
      note(`seeded ${ids.length}`);
      const blobs = blobService.getContainerClient(`${outbound}-naive`);
      await blobs.createIfNotExists();
      const started = performance.now();
      for (;;) {
        const m = await recurring.dequeue(activityId);
        if (!m) break;
        const d = await recurring.download(m);
        await blobs.getBlockBlobClient(m.correlationId.toLowerCase()).uploadStream(d.stream);
        await recurring.ack(activityId, m);
      }
      return check('naive', ids, (performance.now() - started) / 1000);
    };
    let run = 0;
    const runDrain = async (concurrency: number): Promise<RunFigures> => {
      const ids = await seed(messages);
      note(`seeded ${ids.length}`);
      const instanceId = `bench-drain-${++run}`;
      const started = performance.now();
      await stack.host!.durable.startNew(ORCHESTRATORS.recurringExportDrain, {
        instanceId,
        input: {
          environment: 'local',
          activityId,
          maxMessages: messages,
          ackWhenFileMissing: false,
          dequeueConcurrency: concurrency,
          scheduledFor: new Date().toISOString(),
        },
      });
      const status = await stack.host!.durable.waitForCompletion(instanceId, 30 * 60_000);
      const seconds = (performance.now() - started) / 1000;
      if (status.runtimeStatus !== 'Completed')
        throw new Error(`drain ${instanceId}: ${status.runtimeStatus}`);
      const summary = status.output as DrainSummary;
      if (summary.processed !== messages || summary.ackFailures !== 0) {
        throw new Error(`drain ${instanceId}: ${JSON.stringify(summary)}`);
      }
      return check(`drain c=${concurrency}`, ids, seconds);
    };

    const results: RunFigures[] = [];
    for (let rep = 0; rep < repeats; rep++) {
      const order: (number | 'naive')[] = ['naive', ...concurrencies];
      if (rep % 2 === 1) order.reverse();
      for (const what of order) {
        const figures = what === 'naive' ? await runNaive() : await runDrain(what);
        results.push(figures);
        note(`repeat ${rep + 1}: ${JSON.stringify(figures)}`);
      }
    }

    const byWhat = new Map<string, RunFigures[]>();
    for (const r of results) byWhat.set(r.what, [...(byWhat.get(r.what) ?? []), r]);
    const naiveRate = median(byWhat.get('naive')!.map((r) => r.perSecond));
    const table = [...byWhat.entries()].map(([what, runs]) => {
      const c = what === 'naive' ? undefined : Number(what.split('=')[1]);
      const rate = median(runs.map((r) => r.perSecond));
      return {
        what,
        perSecond: runs.map((r) => r.perSecond),
        median: rate,
        limit: round1(c === undefined ? 1000 / (3 * tripMs) : (c * 1000) / tripMs),
        ofLimit: round1((rate / (c === undefined ? 1000 / (3 * tripMs) : (c * 1000) / tripMs)) * 100),
        vsNaive: round1(rate / naiveRate),
        duplicates: runs.reduce((n, r) => n + r.duplicateBlobs + r.duplicateDownloads + r.duplicateEvents, 0),
        missing: runs.reduce((n, r) => n + r.missing, 0),
      };
    });
    const chosen = table.find((t) => t.what === `drain c=${DEFAULT_DEQUEUE_CONCURRENCY}`);
    console.log(
      JSON.stringify(
        {
          machine: load.report(),
          latencyMs,
          noOpRoundTripMs: round1(tripMs),
          messages,
          naiveMessages,
          repeats,
          table,
          goals: chosen
            ? {
                defaultConcurrency: DEFAULT_DEQUEUE_CONCURRENCY,
                '≥ 20 msg/s': `${chosen.median} ${chosen.median >= 20 ? 'MET' : 'NOT MET'}`,
                '0 duplicates': `${chosen.duplicates} ${chosen.duplicates === 0 && chosen.missing === 0 ? 'MET' : 'NOT MET'}`,
                '≥ 2× naive': `${chosen.vsNaive} ${chosen.vsNaive >= 2 ? 'MET' : 'NOT MET'}`,
              }
            : `the default concurrency ${DEFAULT_DEQUEUE_CONCURRENCY} was not run`,
        },
        null,
        2,
      ),
    );
  } finally {
    await receiver.close().catch(() => undefined);
    await sb.close().catch(() => undefined);
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The project's recurring client for the stack's emulator environment (the naive loop's). */
function naiveClient(stack: LocalStack): RecurringClient {
  const config = readSampleConfig();
  const local = (config.environments as { name: string }[]).find((e) => e.name === 'local');
  const environment = {
    ...(local as object),
    url: stack.emulator.baseUrl,
    auth: {
      kind: 'clientSecret' as const,
      tenantId: stack.emulator.tenantId,
      clientId: stack.emulator.credentials.clientId,
      clientSecretSetting: 'SECRET',
      authorityHost: stack.emulator.authorityHost,
    },
  };
  return createEnvironmentClients(environment as never, {
    env: { SECRET: stack.emulator.credentials.clientSecret ?? '' },
  }).recurring;
}

await runTrustingEmulatorCa(main);
// After a drain of a few hundred messages the stack's stop() returns with Azurite's child process
// and a listening server still open (seen 2026-12-05, devhost's stop, not the drain's): end here.
process.exit(process.exitCode ?? 0);
