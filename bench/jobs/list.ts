/**
 * The jobs list at 50,000 jobs: `GET /api/jobs` from the job index (Azure Table storage, here
 * Azurite's table service) against the durable scan it replaced (every instance of the window
 * through the durable status query, as before the index), over the same number of jobs, in the
 * same run. Prints p50/p95 of a first page and of a filtered page for both, and of the raw Table
 * query of the same page with the SDK (the physical limit: what is left without the Functions host,
 * HTTP and the app). Goal: first page p95 ≤ 100 ms at 50,000 jobs and ≥ 10× faster than the scan.
 *
 * Run: `npx tsx bench/jobs/list.ts` (`BENCH_JOBS`, default 50000; `BENCH_ROUNDS`, default 3;
 * `BENCH_SAMPLES` index requests per round and query, default 40; `BENCH_SCAN_SAMPLES`, default 3).
 *
 * - The index: the app, unchanged, on the local host in a child process (as `npm start` runs it);
 *   its tables in one Azurite (in memory), loaded with 50,000 list rows spread over 30 days (batches
 *   of 100, built by the app's own `listRow`; the id table is not needed to list).
 * - The scan: a stand-in app (bench/jobs/scan-app/) with the pre-index list code, on an in-process
 *   local host holding 50,000 completed `importPackage` instances of the same jobs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TableClient, type TransactionAction } from '@azure/data-tables';
import { startAzurite } from '@dmf-functions/emulator';
import { startHost } from '@dmf-functions/devhost';
import { readSampleConfig, startLocalStack } from '@dmf-functions/devhost/stack';
import {
  executionIdFor,
  importInstanceId,
  jobView,
  type ImportInput,
  type ImportResult,
  type JobOutcome,
} from '../../src/shared/jobs/index.js';
import { DEFAULT_NAMES } from '../../src/shared/config/index.js';
import { listFilter, listRow } from '../../src/shared/storage/index.js';
import { mapLimited } from '../../src/shared/util.js';
import { runTrustingEmulatorCa } from '../support/trust-emulator-ca.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 50_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const SCAN_SAMPLES = Number(process.env.BENCH_SCAN_SAMPLES ?? 3);
const TOP = 100;
const ENVIRONMENTS = ['prod', 'uat', 'test', 'dev'];
const PROJECTS = ['Customers', 'Vendors', 'Products', 'Journals'];
const DAY = 86_400_000;

/** The n-th job: an import requested `n` steps back from now, spread over 30 days. */
function benchJob(n: number, now: number): { input: ImportInput; result: ImportResult; id: string } {
  const requestedAt = new Date(now - Math.round((n * 30 * DAY) / JOBS) - 60_000).toISOString();
  const environment = ENVIRONMENTS[n % ENVIRONMENTS.length]!;
  const project = PROJECTS[Math.floor(n / ENVIRONMENTS.length) % PROJECTS.length]!;
  const fileName = `drop-${String(n).padStart(6, '0')}.zip`;
  const logicalPath = `${environment}/${project}/${fileName}`;
  const id = importInstanceId({ source: `dmf-inbound/${logicalPath}`, version: String(n) });
  // 1 in 20 failed, 1 in 10 partly: what a filter for trouble finds
  const status: JobOutcome = n % 20 === 7 ? 'Failed' : n % 10 === 3 ? 'PartiallySucceeded' : 'Succeeded';
  const finishedAt = new Date(Date.parse(requestedAt) + 45_000).toISOString();
  const input: ImportInput = {
    source: { kind: 'blob', container: 'dmf-inbound', path: logicalPath, etag: `0x${n.toString(16)}` },
    logicalPath,
    fileName,
    environment,
    project,
    definitionGroupId: `${project}Import`,
    legalEntity: 'USMF',
    execute: true,
    overwrite: true,
    trigger: 'blob',
    requestedAt,
  };
  const polls = 6;
  const result: ImportResult = {
    id,
    status,
    file: fileName,
    source: `dmf-inbound/${logicalPath}`,
    environment,
    project,
    definitionGroupId: input.definitionGroupId,
    legalEntity: 'USMF',
    executionId: executionIdFor(id),
    foStatus: status,
    trigger: 'blob',
    timings: {
      requestedAt,
      preparedAt: requestedAt,
      slotAcquiredAt: requestedAt,
      startedAt: requestedAt,
      finishedAt,
      executionMs: 40_000,
    },
    polls,
    pollLog: Array.from({ length: polls }, (_, i) => ({
      at: new Date(Date.parse(requestedAt) + (i + 1) * 7_000).toISOString(),
      foStatus: i === polls - 1 ? status : 'Executing',
    })),
    errors:
      status === 'Succeeded'
        ? []
        : [
            {
              code: 'DMF_EXECUTION_ERROR',
              message: "The value 'X' in field 'NAME' is not valid.",
              field: 'NAME',
              recordId: '5637144580',
            },
          ],
    errorFiles: [],
    resultBlob: `dmf-results/${logicalPath}/${id}/result.json`,
    archivedTo: `dmf-archive/${status === 'Succeeded' ? 'succeeded' : 'failed'}/${environment}/${project}/${id}/${fileName}`,
  };
  return { input, result, id };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Times `samples` runs of `fn` (after one warm-up) in ms. */
async function timed(samples: number, fn: () => Promise<unknown>): Promise<number[]> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await fn();
    out.push(performance.now() - start);
  }
  return out.sort((a, b) => a - b);
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ jobs: unknown[] }> {
  const response = await fetch(url, { headers });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as { jobs: unknown[] };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-bench-list-'));
  const azurite = await startAzurite();
  const stopped: (() => Promise<void>)[] = [() => azurite.stop()];
  try {
    const now = Date.now();
    const jobs = Array.from({ length: JOBS }, (_, n) => benchJob(n, now));

    // 1. the index: 50,000 list rows, in batches of 100 per partition
    const startedLoad = performance.now();
    const table = TableClient.fromConnectionString(azurite.connectionString, DEFAULT_NAMES.jobsTable, {
      allowInsecureConnection: true,
    });
    await table.createTable();
    const byPartition = new Map<string, TransactionAction[]>();
    for (const job of jobs) {
      const view = jobView('import', {
        instanceId: job.id,
        runtimeStatus: 'Completed',
        input: job.input,
        output: job.result,
        createdTime: job.input.requestedAt,
        lastUpdatedTime: job.result.timings.finishedAt,
      });
      const row = listRow(view, job.input.requestedAt);
      const list = byPartition.get(row.partitionKey) ?? [];
      list.push(['upsert', { ...row }, 'Replace']);
      byPartition.set(row.partitionKey, list);
    }
    const batches: TransactionAction[][] = [];
    for (const actions of byPartition.values())
      for (let i = 0; i < actions.length; i += 100) batches.push(actions.slice(i, i + 100));
    await mapLimited(batches, 4, (batch) => table.submitTransaction(batch));
    console.log(
      `index: ${JOBS} rows in ${byPartition.size} partitions loaded in ${((performance.now() - startedLoad) / 1000).toFixed(1)} s`,
    );

    // 2. the scan: the same jobs as completed durable instances of the stand-in app
    const startedScanLoad = performance.now();
    const scanHost = await startHost({
      appRoot: join(import.meta.dirname, 'scan-app'),
      dataDir: join(dataDir, 'scan-host'),
      startTriggers: false,
      storageConnectionString: azurite.connectionString,
      logger: (level, category, fn, message) => {
        if (level === 'error') console.error(`scan host: ${category} ${fn} ${message}`);
      },
    });
    stopped.unshift(() => scanHost.stop());
    await mapLimited(jobs, 50, async (job) => {
      await scanHost.durable.startNew('importPackage', {
        instanceId: job.id,
        input: { ...job.input, result: job.result },
      });
      const status = await scanHost.durable.waitForCompletion(job.id, 120_000);
      if (status.runtimeStatus !== 'Completed') throw new Error(`${job.id} ended ${status.runtimeStatus}`);
    });
    console.log(
      `durable store: ${JOBS} completed instances in ${((performance.now() - startedScanLoad) / 1000).toFixed(1)} s`,
    );

    // 3. the app, unchanged, on the local host (child process), on the same Azurite
    const stack = await startLocalStack({
      dataDir: join(dataDir, 'stack'),
      storageConnectionString: azurite.connectionString,
      hostMode: 'child-process',
      dmfConfig: readSampleConfig(),
    });
    stopped.unshift(() => stack.stop());
    const key = { 'x-functions-key': stack.functionsKey };

    // the whole history in the window: the newest 100 of all 50,000 jobs (the scan's instances were
    // all created during this run, so a shorter window would not narrow its scan anyway)
    const since = new Date(now - 31 * DAY).toISOString();
    const first = `?top=${TOP}&since=${encodeURIComponent(since)}`;
    const filtered = `${first}&status=Failed&environment=prod`;
    const check = await getJson(`${stack.functionsBaseUrl}/api/jobs${first}`, key);
    const checkScan = await getJson(`${scanHost.baseUrl}/api/jobs${first}`);
    if (check.jobs.length !== TOP || checkScan.jobs.length !== TOP)
      throw new Error(`pages of ${check.jobs.length} / ${checkScan.jobs.length} jobs, expected ${TOP}`);

    const raw = (filter: string) => async (): Promise<void> => {
      const page = await table.listEntities({ queryOptions: { filter } }).byPage({ maxPageSize: TOP }).next();
      if (page.done) throw new Error('no page');
    };
    const rawFirst = raw(listFilter({ since: new Date(since) }));
    const rawFiltered = raw(
      listFilter({ since: new Date(since), statuses: ['Failed'], environment: 'prod' }),
    );

    const rows: { round: number; what: string; samples: number[] }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      rows.push({ round, what: 'raw Table query, first page', samples: await timed(SAMPLES, rawFirst) });
      rows.push({
        round,
        what: 'raw Table query, filtered page',
        samples: await timed(SAMPLES, rawFiltered),
      });
      rows.push({
        round,
        what: 'index API, first page',
        samples: await timed(SAMPLES, () => getJson(`${stack.functionsBaseUrl}/api/jobs${first}`, key)),
      });
      rows.push({
        round,
        what: 'index API, filtered page',
        samples: await timed(SAMPLES, () => getJson(`${stack.functionsBaseUrl}/api/jobs${filtered}`, key)),
      });
      rows.push({
        round,
        what: 'durable scan, first page',
        samples: await timed(SCAN_SAMPLES, () => getJson(`${scanHost.baseUrl}/api/jobs${first}`)),
      });
      rows.push({
        round,
        what: 'durable scan, filtered page',
        samples: await timed(SCAN_SAMPLES, () => getJson(`${scanHost.baseUrl}/api/jobs${filtered}`)),
      });
    }

    const f = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
    console.log('');
    console.log(
      `${JOBS} jobs over 30 days, all in the window; pages of ${TOP}; filtered = status Failed, environment prod (1 job in 80)`,
    );
    console.log('round  what                            samples       p50       p95');
    for (const r of rows) {
      console.log(
        `${String(r.round).padStart(5)}  ${r.what.padEnd(30)}  ${String(r.samples.length).padStart(7)}  ${f(percentile(r.samples, 50)).padStart(8)}  ${f(percentile(r.samples, 95)).padStart(8)}`,
      );
    }
    const all = (what: string): number[] =>
      rows
        .filter((r) => r.what === what)
        .flatMap((r) => r.samples)
        .sort((a, b) => a - b);
    const p95 = (what: string): number => percentile(all(what), 95);
    const p50 = (what: string): number => percentile(all(what), 50);
    console.log('');
    for (const page of ['first page', 'filtered page']) {
      const index = `index API, ${page}`;
      const scan = `durable scan, ${page}`;
      console.log(
        `${page}: index p50 ${f(p50(index))} p95 ${f(p95(index))}; scan p50 ${f(p50(scan))} p95 ${f(p95(scan))}; raw Table query p95 ${f(p95(`raw Table query, ${page}`))}; scan / index (p50) ${(p50(scan) / p50(index)).toFixed(1)}×`,
      );
    }
    const goalP95 = p95('index API, first page') <= 100;
    const goalRatio = p50('durable scan, first page') / p50('index API, first page') >= 10;
    console.log('');
    console.log(
      `first page p95 ≤ 100 ms: ${goalP95 ? 'MET' : 'MISSED'}; ≥ 10× faster than the scan: ${goalRatio ? 'MET' : 'MISSED'}`,
    );
  } finally {
    for (const stop of stopped) await stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await runTrustingEmulatorCa(main);
