/**
 * Host overhead benchmark (not run in CI): orchestration episodes per second for a 10-activity
 * orchestration with no-op activities, and heap after 1,000 completed instances.
 *
 *   npx tsx --expose-gc bench/host/durable.ts [instances=1000] [concurrency=50]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHost } from '@dmf-functions/devhost';

const instances = Number(process.argv[2] ?? 1000);
const concurrency = Number(process.argv[3] ?? 50);
const appRoot = join(import.meta.dirname, '..', '..', 'devhost', 'test', 'fixtures', 'durable-app');
const gc = (globalThis as { gc?: () => void }).gc;

function heapMb(): number {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

async function runBatch(
  host: Awaited<ReturnType<typeof startHost>>,
  count: number,
  prefix: string,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const id = `${prefix}-${next++}`;
      await host.durable.startNew('tenActivities', { instanceId: id });
      const status = await host.durable.waitForCompletion(id, 120_000);
      if (status.runtimeStatus !== 'Completed') throw new Error(`${id} ended ${status.runtimeStatus}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'devhost-bench-'));
  const host = await startHost({ appRoot, dataDir, logger: () => {}, startTriggers: false });
  try {
    await runBatch(host, 50, 'warmup');
    const heapBefore = heapMb();
    const episodesBefore = host.durable.stats().episodes;
    const started = process.hrtime.bigint();
    await runBatch(host, instances, 'run');
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const episodes = host.durable.stats().episodes - episodesBefore;
    const heapAfter = heapMb();
    await runBatch(host, instances, 'again');
    const heapAfterSecond = heapMb();
    console.log(`instances: ${instances} × 10 no-op activities, concurrency ${concurrency}`);
    console.log(
      `episodes: ${episodes} in ${seconds.toFixed(2)} s → ${(episodes / seconds).toFixed(0)} episodes/s, ${(instances / seconds).toFixed(1)} instances/s`,
    );
    console.log(
      `heap: ${heapBefore.toFixed(1)} MB before, ${heapAfter.toFixed(1)} MB after ${instances} completed, ${heapAfterSecond.toFixed(1)} MB after ${2 * instances}${gc ? '' : ' (run with --expose-gc for stable figures)'}`,
    );
    console.log(`instances held in memory after completion: ${host.durable.stats().liveInstances}`);
  } finally {
    await host.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
