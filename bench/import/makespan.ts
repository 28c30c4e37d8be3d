/**
 * Makespan benchmark: 200 files dropped at once over 4 data projects on one F&O environment
 * (concurrency 1, emulated execution times 5–60 s). Compares the time from the first drop to the
 * last finished job against the sum of the emulated execution times, which is the best any
 * serialized pipeline can do. Goal ≤ 1.15×: a freed slot must wake the next import at once, and
 * polls must find each execution's end soon after it happens.
 *
 * Run: `npx tsx bench/import/makespan.ts` (`BENCH_DROPS`, default 200).
 *
 * The unchanged app runs on the local host against the F&O emulator, Azurite and the broker. Host
 * and emulator share one fast-forward clock: real work (activities, storage, HTTP) takes its real
 * time, but whenever the host has nothing in flight the clock jumps to the next durable timer. So
 * every overhead of the pipeline is measured at its true length while the hours of waiting for F&O
 * pass in minutes — and the emulator finishes executions on exactly the time the orchestrations see.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { createFastForwardClock } from '@dmf-functions/devhost';
import { readSampleConfig, startLocalStack } from '@dmf-functions/devhost/stack';
import { buildPackage, DEFAULT_CONFIG, type ExecutionView } from '@dmf-functions/emulator';
import { waitForResults } from '../support/results.js';
import { runTrustingEmulatorCa } from '../support/trust-emulator-ca.js';

const DROPS = Number(process.env.BENCH_DROPS ?? 200);

/** The 4 data projects: F&O definition group and the range its executions take (emulator time). */
const PROJECTS = [
  { name: 'Customers', group: 'BenchCustomers', minMs: 5_000, maxMs: 7_000 },
  { name: 'Vendors', group: 'BenchVendors', minMs: 12_000, maxMs: 18_000 },
  { name: 'Products', group: 'BenchProducts', minMs: 25_000, maxMs: 35_000 },
  { name: 'Journals', group: 'BenchJournals', minMs: 45_000, maxMs: 60_000 },
] as const;

const entity = { label: 'Customers V3', name: 'CustomersV3', keyFields: ['CustomerAccount'] };

async function main(): Promise<void> {
  const clock = createFastForwardClock();
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-bench-makespan-'));
  const sample = readSampleConfig();
  const environments = (sample.environments as Record<string, unknown>[]).map((e) => ({
    ...e,
    concurrency: 1,
  }));
  const hostLog: string[] = [];
  const stack = await startLocalStack({
    dataDir,
    clock,
    blobPollIntervalMs: 200,
    logger: (level, category, fn, message) => {
      if (level === 'error') hostLog.push(`${category} ${fn} ${message}`);
      if (process.env.BENCH_VERBOSE)
        console.log(`[${new Date(clock.now()).toISOString()}] ${level} ${category} ${fn} ${message}`);
    },
    // default polling settings: what a data project without a polling block gets
    dmfConfig: {
      ...sample,
      environments,
      // the sample's recurring activities would drain and poll beside the measured imports, and its
      // chains name data projects this bench replaces (the configuration would be refused)
      recurringActivities: [],
      chains: [],
      dataProjects: PROJECTS.map((p) => ({
        name: p.name,
        definitionGroupId: p.group,
        environment: 'local',
        direction: 'import',
      })),
    },
    emulator: {
      clock: { mode: 'external', now: () => clock.now() },
      config: {
        ...DEFAULT_CONFIG,
        dataProjects: PROJECTS.map((p) => ({
          name: p.group,
          direction: 'import' as const,
          entities: [entity],
          executionDurationMs: { min: p.minMs, max: p.maxMs },
        })),
        recurringActivities: [],
      },
    },
  });
  const started = Date.now();
  try {
    const service = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
    const settings = stack.appSettings;
    const inbound = service.getContainerClient(settings.DMF_INBOUND_CONTAINER ?? 'dmf-inbound');
    const results = service.getContainerClient(settings.DMF_RESULTS_CONTAINER ?? 'dmf-results');
    await inbound.createIfNotExists();
    await results.createIfNotExists();
    const packages = await Promise.all(
      PROJECTS.map(() =>
        buildPackage({
          definitionGroupName: 'Bench',
          entities: [
            {
              entityName: entity.label,
              columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'],
              rows: [['C-1', 'Customer 1', '10']],
            },
          ],
        }),
      ),
    );

    // 200 drops "at once": uploaded back to back, round-robin over the projects
    const firstDropAt = clock.now();
    for (let i = 0; i < DROPS; i++) {
      const project = PROJECTS[i % PROJECTS.length]!;
      const name = `local/${project.name}/drop-${String(i).padStart(3, '0')}.zip`;
      await inbound.getBlockBlobClient(name).uploadData(packages[i % PROJECTS.length]!);
    }
    const droppedAt = clock.now();
    console.log(
      `${DROPS} files dropped in ${((droppedAt - firstDropAt) / 1000).toFixed(1)} s; waiting for the results…`,
    );

    const finished = await waitForResults({
      results,
      count: DROPS,
      clockNow: () => clock.now(),
      firstDropAt,
      started,
      hostLog,
    });
    const wallS = (Date.now() - started) / 1000;

    const control = stack.emulator.control;
    const executions = (await control.executions()).filter(
      (e: ExecutionView) => e.kind === 'import' && e.source === 'package-api',
    );
    const overlaps = await control.overlaps();
    const calls = await control.calls();
    const statusCalls = calls.filter((c) => c.route === 'GetExecutionSummaryStatus').length;

    const ms = (iso: string): number => new Date(iso).getTime();
    const byStart = [...executions].sort((a, b) => ms(a.createdAt) - ms(b.createdAt));
    const sumExecMs = executions.reduce((sum, e) => sum + (ms(e.endAt) - ms(e.createdAt)), 0);
    const lastFinish = Math.max(...finished.map((r) => ms(r.timings.finishedAt)));
    const makespanMs = lastFinish - firstDropAt;
    // Where the rest went: F&O idle between one execution's end and the next start, split into
    // "noticing the end" (the last poll) and "handing the slot on" (release → next upload + start).
    const resultByExecution = new Map(finished.map((r) => [r.executionId, r]));
    let detectMs = 0;
    let handoffMs = 0;
    for (let i = 0; i + 1 < byStart.length; i++) {
      const done = byStart[i]!;
      const next = byStart[i + 1]!;
      const polls = resultByExecution.get(done.executionId)?.pollLog ?? [];
      const known = polls.length > 0 ? ms(polls[polls.length - 1]!.at) : ms(done.endAt);
      detectMs += Math.max(0, known - ms(done.endAt));
      handoffMs += Math.max(0, ms(next.createdAt) - Math.max(known, ms(done.endAt)));
    }
    const firstStartMs = ms(byStart[0]!.createdAt) - firstDropAt;
    const tailMs = lastFinish - ms(byStart[byStart.length - 1]!.endAt);
    const statuses = new Map<string, number>();
    for (const r of finished) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    // arrival = when the trigger received the file (the blob trigger may see a batch in any order)
    const byArrival = [...finished].sort((a, b) => ms(a.timings.requestedAt) - ms(b.timings.requestedAt));
    const arrivalOrdered = byArrival.every((r, i) => r.executionId === byStart[i]?.executionId);

    const s = (value: number): string => `${(value / 1000).toFixed(1)} s`;
    const ratio = makespanMs / sumExecMs;
    console.log('');
    console.log(`drops                         ${DROPS} over ${PROJECTS.length} projects, concurrency 1`);
    console.log(`job outcomes                  ${[...statuses].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(
      `F&O executions                ${executions.length}, overlaps ${overlaps.length}, started in arrival order: ${arrivalOrdered ? 'yes' : 'NO'}`,
    );
    console.log(`sum of execution times        ${s(sumExecMs)}`);
    console.log(`makespan (first drop → last)  ${s(makespanMs)}`);
    console.log(`  before the first start      ${s(firstStartMs)}`);
    console.log(
      `  noticing ends (poll lag)    ${s(detectMs)}  (${(detectMs / executions.length / 1000).toFixed(2)} s per execution)`,
    );
    console.log(
      `  handing the slot on         ${s(handoffMs)}  (${(handoffMs / executions.length / 1000).toFixed(2)} s per execution)`,
    );
    console.log(`  after the last execution    ${s(tailMs)}`);
    console.log(
      `status calls                  ${statusCalls} (${(statusCalls / executions.length).toFixed(1)} per execution)`,
    );
    console.log(
      `wall time                     ${wallS.toFixed(0)} s (clock skipped ${s(clock.skippedMs())})`,
    );
    console.log(`host errors logged            ${hostLog.length}`);
    console.log('');
    console.log(
      `makespan / sum of execution times: ${ratio.toFixed(3)} (goal ≤ 1.15): ${ratio <= 1.15 ? 'MET' : 'MISSED'}`,
    );
    if (overlaps.length > 0 || executions.length !== DROPS) process.exitCode = 1;
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await runTrustingEmulatorCa(main);
