/**
 * Many environments at once: 10 F&O environments × 40 drops over 4 data projects each (concurrency 1
 * per environment, emulated execution times 5–60 s), all dropped at once. Environments are
 * independent — each has its own slot — so the whole run should take as long as the busiest
 * environment's F&O time, not the sum. Prints makespan / (largest per-environment sum of execution
 * times), the overlaps per environment and the CPU seconds the worker spent per job.
 * Goal ≤ 1.10 and 0 overlaps within any environment.
 *
 * Run: `npx tsx bench/import/environments.ts` (`BENCH_ENVIRONMENTS`, default 10; `BENCH_DROPS`
 * per environment, default 40; `BENCH_HISTORY=warm`: every data project starts with 3 earlier
 * durations of its range, as projects that have run before do — the default, `cold`, starts every
 * project new, so its first three executions are polled from a weak prior: the environment's other
 * projects, then its own first runs — and the very first import of an environment from nothing).
 *
 * As in makespan.ts, the unchanged app runs on the local host against the F&O emulator (one
 * emulated environment per app environment, each on its own port), Azurite and the broker, on one
 * shared fast-forward clock: real work takes its real time, and the clock jumps to the next durable
 * timer only when the host has nothing in flight. So every environment's pipeline overhead — and
 * every timer or entity operation one environment causes while another waits — is counted at its
 * true length, while the hours of F&O time pass in minutes.
 *
 * CPU: `process.cpuUsage()` of this process, which runs the local host with the app (the worker)
 * and the emulator (Azurite and its storage work run in a child process and are not counted).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import {
  buildPackage,
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  DEFAULT_CONFIG,
  DEFAULT_TENANT_ID,
  type ExecutionView,
} from '@dmf-functions/emulator';
import { createFastForwardClock } from '@dmf-functions/devhost';
import { LOCAL_SECRET_SETTING, startLocalStack } from '@dmf-functions/devhost/stack';
import { waitForResults } from '../support/results.js';
import { runTrustingEmulatorCa } from '../support/trust-emulator-ca.js';

const ENVIRONMENTS = Number(process.env.BENCH_ENVIRONMENTS ?? 10);
const DROPS = Number(process.env.BENCH_DROPS ?? 40);
const GOAL = 1.1;
const WARM = process.env.BENCH_HISTORY === 'warm';

/** The 4 data projects of every environment: F&O definition group and its execution times. */
const PROJECTS = [
  { name: 'Customers', group: 'BenchCustomers', minMs: 5_000, maxMs: 7_000 },
  { name: 'Vendors', group: 'BenchVendors', minMs: 12_000, maxMs: 18_000 },
  { name: 'Products', group: 'BenchProducts', minMs: 25_000, maxMs: 35_000 },
  { name: 'Journals', group: 'BenchJournals', minMs: 45_000, maxMs: 60_000 },
] as const;

const entity = { label: 'Customers V3', name: 'CustomersV3', keyFields: ['CustomerAccount'] };
const envName = (i: number): string => `env${String(i).padStart(2, '0')}`;
/** App data project names are unique across environments. */
const projectName = (environment: string, project: string): string => `${project}-${environment}`;

/** A free loopback port (closed again at once: the emulator listens on it next). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function main(): Promise<void> {
  const clock = createFastForwardClock();
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-bench-environments-'));
  const environments = Array.from({ length: ENVIRONMENTS }, (_, i) => envName(i));
  const authorityPort = await freePort();
  const ports: Record<string, number> = {};
  for (const name of environments) ports[name] = await freePort();
  const hostLog: string[] = [];
  const stack = await startLocalStack({
    dataDir,
    clock,
    blobPollIntervalMs: 60_000,
    logger: (level, category, fn, message) => {
      if (level === 'error') hostLog.push(`${category} ${fn} ${message}`);
      if (process.env.BENCH_VERBOSE)
        console.log(`[${new Date(clock.now()).toISOString()}] ${level} ${category} ${fn} ${message}`);
    },
    // default polling settings: what a data project without a polling block gets
    dmfConfig: {
      environments: environments.map((name) => ({
        name,
        url: `https://127.0.0.1:${ports[name]}`,
        auth: {
          kind: 'clientSecret',
          tenantId: DEFAULT_TENANT_ID,
          clientId: DEFAULT_CLIENT_ID,
          clientSecretSetting: LOCAL_SECRET_SETTING,
          authorityHost: `https://127.0.0.1:${authorityPort}`,
        },
        defaultLegalEntity: 'USMF',
        concurrency: 1,
      })),
      dataProjects: environments.flatMap((environment) =>
        PROJECTS.map((p) => ({
          name: projectName(environment, p.name),
          definitionGroupId: p.group,
          environment,
          direction: 'import',
        })),
      ),
    },
    appSettings: { [LOCAL_SECRET_SETTING]: DEFAULT_CLIENT_SECRET },
    emulator: {
      clock: { mode: 'external', now: () => clock.now() },
      ports: { authority: authorityPort, environments: ports },
      config: {
        ...DEFAULT_CONFIG,
        environments: environments.map((name) => ({
          name,
          type: 'cloud' as const,
          port: ports[name] ?? 0,
          clients: [DEFAULT_CLIENT_ID],
        })),
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
    const pkg = await buildPackage({
      definitionGroupName: 'Bench',
      entities: [
        {
          entityName: entity.label,
          columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'],
          rows: [['C-1', 'Customer 1', '10']],
        },
      ],
    });

    if (WARM) {
      // what the learned history (the `importHistory` entity per environment and project) would
      // hold after three earlier runs: durations spread over the project's range
      for (const environment of environments) {
        for (const p of PROJECTS) {
          for (const f of [0.2, 0.5, 0.8]) {
            stack.host!.durable.signalEntity(
              'importHistory',
              `${environment}:${projectName(environment, p.name)}`,
              'add',
              JSON.stringify(Math.round(p.minMs + f * (p.maxMs - p.minMs))),
            );
          }
        }
      }
    }

    // every drop "at once": uploaded back to back, round-robin over environments, then projects
    const total = ENVIRONMENTS * DROPS;
    const statsBefore = stack.host!.durable.stats();
    const cpuBefore = process.cpuUsage();
    const firstDropAt = clock.now();
    // (the local host lists the inbound container to find new blobs, in name order: a scan after
    // each round keeps the arrival order across environments, as Event Grid's events would)
    for (let i = 0; i < DROPS; i++) {
      for (const environment of environments) {
        const project = projectName(environment, PROJECTS[i % PROJECTS.length]!.name);
        const name = `${environment}/${project}/drop-${String(i).padStart(3, '0')}.zip`;
        await inbound.getBlockBlobClient(name).uploadData(pkg);
      }
      await stack.host!.blobTriggers.scanNow();
    }
    console.log(
      `${total} files dropped in ${((clock.now() - firstDropAt) / 1000).toFixed(1)} s (clock); waiting for the results…`,
    );

    const finished = await waitForResults({
      results,
      count: total,
      clockNow: () => clock.now(),
      firstDropAt,
      started,
      hostLog,
    });
    const cpu = process.cpuUsage(cpuBefore);
    const statsAfter = stack.host!.durable.stats();
    const wallS = (Date.now() - started) / 1000;

    const control = stack.emulator.control;
    const executions = (await control.executions()).filter(
      (e: ExecutionView) => e.kind === 'import' && e.source === 'package-api',
    );
    const overlaps = await control.overlaps();
    const calls = await control.calls();
    const statusCalls = calls.filter((c) => c.route === 'GetExecutionSummaryStatus').length;

    const ms = (iso: string): number => new Date(iso).getTime();
    const lastFinish = Math.max(...finished.map((r) => ms(r.timings.finishedAt)));
    const makespanMs = lastFinish - firstDropAt;
    const resultByExecution = new Map(finished.map((r) => [r.executionId, r]));
    const perEnvironment = environments.map((environment) => {
      const mine = executions
        .filter((e) => e.environment === environment)
        .sort((a, b) => ms(a.createdAt) - ms(b.createdAt));
      const sumMs = mine.reduce((sum, e) => sum + (ms(e.endAt) - ms(e.createdAt)), 0);
      const done = finished.filter((r) => r.environment === environment);
      const lastMs = Math.max(...done.map((r) => ms(r.timings.finishedAt))) - firstDropAt;
      // where the rest went, as in makespan.ts: F&O idle before the first start, while the end of
      // an execution went unnoticed (poll lag), while the slot was handed on, after the last one
      let detectMs = 0;
      let handoffMs = 0;
      for (let i = 0; i + 1 < mine.length; i++) {
        const ended = mine[i]!;
        const next = mine[i + 1]!;
        const polls = resultByExecution.get(ended.executionId)?.pollLog ?? [];
        const known = polls.length > 0 ? ms(polls[polls.length - 1]!.at) : ms(ended.endAt);
        detectMs += Math.max(0, known - ms(ended.endAt));
        handoffMs += Math.max(0, ms(next.createdAt) - Math.max(known, ms(ended.endAt)));
      }
      return {
        environment,
        executions: mine.length,
        sumMs,
        lastMs,
        firstStartMs: mine.length > 0 ? ms(mine[0]!.createdAt) - firstDropAt : 0,
        detectMs,
        handoffMs,
        tailMs: mine.length > 0 ? lastMs + firstDropAt - ms(mine[mine.length - 1]!.endAt) : 0,
        overlaps: overlaps.filter((o) => o.environment === environment).length,
      };
    });
    const busiest = perEnvironment.reduce((a, b) => (b.sumMs > a.sumMs ? b : a));
    const statuses = new Map<string, number>();
    for (const r of finished) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const s = (value: number): string => `${(value / 1000).toFixed(1)} s`;
    const ratio = makespanMs / busiest.sumMs;

    console.log('');
    console.log(
      `environments × drops          ${ENVIRONMENTS} × ${DROPS} over ${PROJECTS.length} projects each, concurrency 1, history ${WARM ? 'warm' : 'cold'}`,
    );
    console.log(`job outcomes                  ${[...statuses].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    console.log(`F&O executions                ${executions.length}, overlaps ${overlaps.length}`);
    console.log(
      'environment  executions  sum of F&O time  last job done  first start  poll lag  hand-over  tail  overlaps',
    );
    for (const e of perEnvironment) {
      console.log(
        [
          e.environment.padEnd(11),
          String(e.executions).padStart(10),
          s(e.sumMs).padStart(15),
          s(e.lastMs).padStart(13),
          s(e.firstStartMs).padStart(11),
          s(e.detectMs).padStart(8),
          s(e.handoffMs).padStart(9),
          s(e.tailMs).padStart(5),
          String(e.overlaps).padStart(8),
        ].join('  '),
      );
    }
    console.log(`largest per-environment sum   ${s(busiest.sumMs)} (${busiest.environment})`);
    console.log(`makespan (first drop → last)  ${s(makespanMs)}`);
    console.log(
      `status calls                  ${statusCalls} (${(statusCalls / executions.length).toFixed(1)} per execution)`,
    );
    console.log(
      `worker CPU                    ${cpuS.toFixed(1)} s user+system → ${(cpuS / total).toFixed(3)} s per job`,
    );
    console.log(
      `durable work                  ${((statsAfter.episodes - statsBefore.episodes) / total).toFixed(1)} orchestration episodes and ${((statsAfter.activities - statsBefore.activities) / total).toFixed(1)} activities per job`,
    );
    console.log(
      `wall time                     ${wallS.toFixed(0)} s (clock skipped ${s(clock.skippedMs())})`,
    );
    console.log(`host errors logged            ${hostLog.length}`);
    for (const line of hostLog.slice(0, 5)) console.log(`  ${line.slice(0, 300)}`);
    console.log('');
    console.log(
      `makespan / largest per-environment sum of F&O time: ${ratio.toFixed(3)} (goal ≤ ${GOAL.toFixed(2)}): ${ratio <= GOAL ? 'MET' : 'MISSED'}`,
    );
    if (overlaps.length > 0 || executions.length !== total) process.exitCode = 1;
  } finally {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await runTrustingEmulatorCa(main);
