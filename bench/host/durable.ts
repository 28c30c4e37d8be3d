/**
 * Local host durable benchmark (not run by npm test): orchestration episodes per second for a
 * 10-activity orchestration with no-op activities (bench/host/app), `concurrency` instances at a
 * time, with the durable store on disk (instance journals, the default) and, as the limit measured
 * in the same run, in memory (the same engine and records, no filesystem). The files runs also
 * measure the filesystem's own append rate for the records they wrote (same count and size, same
 * concurrency, no engine), a second limit. Each run is a fresh process (`--expose-gc`: heap and RSS
 * after garbage collection, after warm-up, after `instances` and after twice as many completed
 * instances); rounds alternate the order of the two runs. Besides episodes per second of wall
 * time, each run reports episodes per CPU second of its process and how busy its event loop was:
 * on a shared machine the wall-clock rate follows the others' load, the CPU figure much less.
 *
 * The in-memory store is the limit of the engine, not a ceiling of every run: it keeps every
 * journal in the heap (its heap grows with the instances, and so does its GC), while the files
 * store hands writes to a thread that runs on another core. On two cores a files run can come out
 * ahead of an in-memory one.
 *
 *   npx tsx --expose-gc bench/host/durable.ts [instances=1000] [concurrency=50] [rounds=3]
 *
 * BENCH_DATA_DIR picks the folder the files runs write in (default: the OS temp folder).
 */
import { spawn } from 'node:child_process';
import { close, mkdtempSync, open, readdirSync, readFileSync, rmSync, write } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { startHost, type RunningHost } from '@dmf-functions/devhost';

const instances = Number(process.argv[2] ?? 1000);
const concurrency = Number(process.argv[3] ?? 50);
const rounds = Number(process.argv[4] ?? 3);
const appRoot = join(import.meta.dirname, 'app');
const GOAL_EPISODES_PER_S = 2000;
/** "Memory flat": growth from `instances` to twice as many completed instances at most this. */
const FLAT_HEAP_MB = 1;
const FLAT_RSS_MB = 10;

type Store = 'files' | 'memory';

interface Memory {
  heapMb: number;
  rssMb: number;
}

interface RunResult {
  store: Store;
  episodes: number;
  seconds: number;
  episodesPerS: number;
  /**
   * Episodes per second of CPU time the whole process used (main thread, the store's writer thread,
   * the GC's threads) during the measured batch: a figure the machine's other load barely moves.
   */
  episodesPerCpuS: number;
  /** Share of the measured batch the main thread's event loop was busy (1: it was the bottleneck). */
  eventLoopBusy: number;
  /** After warm-up, after `instances`, after twice as many completed instances. */
  memory: [Memory, Memory, Memory];
  liveInstances: number;
  /** Files runs: the journal records of the measured instances and the filesystem's rate for them. */
  filesystem?: { records: number; recordBytes: number; appendsPerS: number; episodesPerS: number };
}

const gc = (globalThis as { gc?: () => void }).gc;

function memory(): Memory {
  gc?.();
  gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapMb: heapUsed / 2 ** 20, rssMb: rss / 2 ** 20 };
}

async function runBatch(host: RunningHost, count: number, prefix: string): Promise<void> {
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

const openFile = promisify(open);
const writeFile = promisify(write);
const closeFile = promisify(close);

/**
 * The filesystem alone: `records` appends of `recordBytes` each, `concurrency` files written at a
 * time (one append per file per round, as the store writes one record per instance per batch).
 */
async function appendRate(dir: string, records: number, recordBytes: number): Promise<number> {
  const fds = await Promise.all(
    Array.from({ length: concurrency }, (_, i) => openFile(join(dir, `raw-${i}.jsonl`), 'a')),
  );
  const line = Buffer.alloc(recordBytes, 'x');
  line[recordBytes - 1] = 0x0a;
  const started = process.hrtime.bigint();
  for (let done = 0; done < records; done += fds.length) {
    await Promise.all(fds.slice(0, Math.min(fds.length, records - done)).map((fd) => writeFile(fd, line)));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(fds.map((fd) => closeFile(fd)));
  return records / seconds;
}

/** The journal records of the instances named `run-*` (the measured ones) in a data dir. */
function journalRecords(dataDir: string): { records: number; bytes: number } {
  const dir = join(dataDir, 'durable', 'BenchHub', 'instances');
  let records = 0;
  let bytes = 0;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('run-')) continue;
    const text = readFileSync(join(dir, name), 'utf8');
    records += text.split('\n').length - 1;
    bytes += text.length;
  }
  return { records, bytes };
}

async function child(store: Store): Promise<void> {
  const dataDir = mkdtempSync(join(process.env.BENCH_DATA_DIR ?? tmpdir(), 'devhost-bench-'));
  try {
    const host = await startHost({
      appRoot,
      dataDir,
      logger: () => {},
      startTriggers: false,
      durableStore: store,
    });
    let result: RunResult;
    try {
      await runBatch(host, 50, 'warmup');
      const warm = memory();
      const episodesBefore = host.durable.stats().episodes;
      const cpuBefore = process.cpuUsage();
      const eluBefore = performance.eventLoopUtilization();
      const started = process.hrtime.bigint();
      await runBatch(host, instances, 'run');
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = process.cpuUsage(cpuBefore);
      const elu = performance.eventLoopUtilization(eluBefore);
      const episodes = host.durable.stats().episodes - episodesBefore;
      const afterN = memory();
      await runBatch(host, instances, 'again');
      const after2N = memory();
      result = {
        store,
        episodes,
        seconds,
        episodesPerS: episodes / seconds,
        episodesPerCpuS: episodes / ((cpu.user + cpu.system) / 1e6),
        eventLoopBusy: elu.utilization,
        memory: [warm, afterN, after2N],
        liveInstances: host.durable.stats().liveInstances,
      };
    } finally {
      await host.stop();
    }
    if (store === 'files') {
      const { records, bytes } = journalRecords(dataDir);
      const recordBytes = Math.max(1, Math.round(bytes / records));
      const appendsPerS = await appendRate(dataDir, records, recordBytes);
      result.filesystem = {
        records,
        recordBytes,
        appendsPerS,
        episodesPerS: appendsPerS * (result.episodes / records),
      };
    }
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function runChild(store: Store): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
      { env: { ...process.env, BENCH_CHILD: store }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) => {
      const line = out.trim().split('\n').at(-1);
      if (code !== 0 || !line) reject(new Error(`the ${store} run failed (exit ${String(code)})`));
      else resolve(JSON.parse(line) as RunResult);
    });
  });
}

const f0 = (n: number): string => Math.round(n).toLocaleString('en-US');
const f1 = (n: number): string => n.toFixed(1);
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};
const load = (): string =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(', ');

async function main(): Promise<void> {
  if (!gc) console.log('(run with --expose-gc: without it heap and RSS include uncollected garbage)');
  console.log(
    `${instances} instances × 10 no-op activities (11 episodes each), concurrency ${concurrency}, ${rounds} rounds; load average ${load()}`,
  );
  const results: RunResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    const order: Store[] = round % 2 === 1 ? ['files', 'memory'] : ['memory', 'files'];
    const got: Partial<Record<Store, RunResult>> = {};
    for (const store of order) got[store] = await runChild(store);
    const files = got.files!;
    const mem = got.memory!;
    results.push(files, mem);
    const fsLimit = files.filesystem!;
    console.log(
      `round ${round} (${order.join(' then ')}, load ${load()}): files ${f0(files.episodesPerS)} episodes/s · ` +
        `in memory ${f0(mem.episodesPerS)} episodes/s (files at ${((100 * files.episodesPerS) / mem.episodesPerS).toFixed(0)} %) · ` +
        `filesystem alone ${f0(fsLimit.episodesPerS)} episodes/s (${f0(fsLimit.appendsPerS)} appends/s of ${fsLimit.recordBytes} B, ` +
        `${(fsLimit.records / files.episodes).toFixed(2)} records per episode)`,
    );
    console.log(
      `  per CPU second of the process: files ${f0(files.episodesPerCpuS)}, in memory ${f0(mem.episodesPerCpuS)} episodes; ` +
        `event loop busy: files ${(100 * files.eventLoopBusy).toFixed(0)} %, in memory ${(100 * mem.eventLoopBusy).toFixed(0)} %`,
    );
  }
  const filesRuns = results.filter((r) => r.store === 'files');
  const memoryRuns = results.filter((r) => r.store === 'memory');
  const filesMedian = median(filesRuns.map((r) => r.episodesPerS));
  console.log(
    `median: files ${f0(filesMedian)} episodes/s, in memory ${f0(median(memoryRuns.map((r) => r.episodesPerS)))}, ` +
      `filesystem alone ${f0(median(filesRuns.map((r) => r.filesystem!.episodesPerS)))}; ` +
      `per CPU second: files ${f0(median(filesRuns.map((r) => r.episodesPerCpuS)))}, ` +
      `in memory ${f0(median(memoryRuns.map((r) => r.episodesPerCpuS)))}`,
  );
  for (const r of filesRuns) {
    const [warm, n, twice] = r.memory;
    console.log(
      `files run memory: heap ${f1(warm.heapMb)} → ${f1(n.heapMb)} → ${f1(twice.heapMb)} MB, RSS ${f1(warm.rssMb)} → ${f1(n.rssMb)} → ${f1(twice.rssMb)} MB ` +
        `(after warm-up, ${instances}, ${2 * instances} completed); instances held in memory: ${r.liveInstances}`,
    );
  }
  const heapGrowth = Math.max(...filesRuns.map((r) => r.memory[2].heapMb - r.memory[1].heapMb));
  const rssGrowth = Math.max(...filesRuns.map((r) => r.memory[2].rssMb - r.memory[1].rssMb));
  const flat =
    heapGrowth <= FLAT_HEAP_MB && rssGrowth <= FLAT_RSS_MB && filesRuns.every((r) => r.liveInstances === 0);
  console.log(
    `goal ≥ ${f0(GOAL_EPISODES_PER_S)} episodes/s (files, median): ${filesMedian >= GOAL_EPISODES_PER_S ? 'met' : 'NOT met'}; ` +
      `memory flat (${instances} → ${2 * instances} instances: heap +${f1(heapGrowth)} MB ≤ ${FLAT_HEAP_MB}, RSS +${f1(rssGrowth)} MB ≤ ${FLAT_RSS_MB}): ${flat ? 'met' : 'NOT met'}`,
  );
  console.log(`load average at the end: ${load()}`);
}

const childStore = process.env.BENCH_CHILD;
(childStore === 'files' || childStore === 'memory' ? child(childStore) : main()).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
