/** Helpers of the import end-to-end tests: one local stack per file, isolated containers. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, inject } from 'vitest';
import { ServiceBusClient, type ServiceBusReceivedMessage } from '@azure/service-bus';
import { createVirtualClock } from '@dmf-functions/devhost';
import {
  PROJECT_ROOT,
  readSampleConfig,
  startLocalStack,
  type LocalStack,
  type StartLocalStackOptions,
} from '@dmf-functions/devhost/stack';
import { buildPackage, type FaultSpec } from '@dmf-functions/emulator';
import type { Job } from '../../src/shared/jobs/index.js';
import { runProcess, type ProcessRun } from '../support/process.js';

/** One running stack with the app's containers and helpers. */
export interface ImportStack {
  stack: LocalStack;
  containers: {
    inbound: ContainerClient;
    archive: ContainerClient;
    results: ContainerClient;
    templates: ContainerClient;
    recurringInbound: ContainerClient;
    outbound: ContainerClient;
    /** A container of the caller's, listed in DMF_SOURCE_CONTAINERS beside the inbound one. */
    staged: ContainerClient;
  };
  names: Record<
    'inbound' | 'archive' | 'results' | 'templates' | 'recurringInbound' | 'outbound' | 'staged',
    string
  >;
  /** The job index's tables of this stack. */
  tables: { jobs: string; jobIds: string };
  /** The stack's data dir (durable state under `devhost/`). */
  dataDir: string;
  /** Every log line the host printed (for the secret scan). */
  logs: string[];
  /** Calls an app route with the function key. */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** Polls `GET /api/jobs/{id}` until the job is final. */
  waitForJob(id: string, timeoutMs?: number): Promise<Job>;
  /** Events received on the topic subscription `all` so far. */
  events(): ServiceBusReceivedMessage[];
  stop(): Promise<void>;
}

/** Fast polling for tests (seconds of the host's virtual clock). */
export const FAST_POLLING = {
  firstIntervalSeconds: 1,
  backoffFactor: 1.6,
  maxIntervalSeconds: 20,
  deadlineHours: 24,
  notStartedGraceSeconds: 3600,
};

/**
 * The sample configuration with fast polling for every project, and without its schedules and
 * recurring activities: on a test's virtual clock they would start exports and drains the test did
 * not ask for (a test adds its own with `recurringConfig` or `exportProject`).
 */
export function testConfig(mutate?: (config: Record<string, unknown>) => void): Record<string, unknown> {
  const config = readSampleConfig();
  const projects = (config.dataProjects as Record<string, unknown>[]).map(
    ({ schedule: _schedule, ...p }) => ({ ...p, polling: FAST_POLLING }),
  );
  const result = { ...config, dataProjects: projects, recurringActivities: [] };
  mutate?.(result);
  return result;
}

/** The built CLI (`npm run build` writes it). */
export const BUILT_CLI = join(PROJECT_ROOT, 'dist', 'bin', 'dmf.js');

/** The test configuration with the export data project `CustomersOut` beside the import projects. */
export function withExportProject(): Record<string, unknown> {
  return testConfig((c) => {
    (c.dataProjects as unknown[]).push(exportProject());
  });
}

/**
 * Runs the built CLI against `s` (its url and key, `env` added; of this process's environment only
 * PATH), asynchronously: the host runs in this process and must keep serving.
 */
export function runCli(
  s: ImportStack,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<ProcessRun> {
  if (!existsSync(BUILT_CLI)) throw new Error('dist/bin/dmf.js is missing: run `npm run build` first.');
  return runProcess(process.execPath, [BUILT_CLI, ...args], {
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: {
      PATH: process.env.PATH ?? '',
      DMF_FUNCTIONS_URL: s.stack.functionsBaseUrl,
      DMF_FUNCTIONS_KEY: s.stack.functionsKey,
      ...options.env,
    },
  });
}

/** The `dmf` arguments naming the sample import project: `--env local --project Customers`. */
export const CLI_CUSTOMERS = ['--env', 'local', '--project', 'Customers'];
/** The `dmf` arguments that wait for the job, checking every 0.2 s. */
export const CLI_WAIT = ['--wait', '--interval', '0.2'];

/** An export data project of the sample environment: `CustomersOut` (definition group CustomerExport). */
export function exportProject(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'CustomersOut',
    definitionGroupId: 'CustomerExport',
    environment: 'local',
    direction: 'export',
    legalEntity: 'USMF',
    polling: FAST_POLLING,
    ...over,
  };
}

/** The sample configuration with one recurring activity of the sample environment. */
export function recurringConfig(activity: Record<string, unknown>): Record<string, unknown> {
  return testConfig((c) => {
    c.recurringActivities = [{ environment: 'local', ...activity }];
  });
}

/** A recurring export activity drained every second (up to 500 messages a run). */
export const EVERY_SECOND_DRAIN = { direction: 'export', schedule: '* * * * * *', maxMessagesPerRun: 500 };

/** Stack options for a host in a child process on the real clock (it can be killed and restarted). */
export const CHILD_PROCESS_HOST: Partial<StartLocalStackOptions> = {
  hostMode: 'child-process',
  clock: undefined,
  logger: undefined,
  blobPollIntervalMs: undefined,
};

/**
 * The test file's stack: started (on the run's Azurite) before its tests, stopped after them.
 * `options` may be a function, called when the stack starts. The handle stands for the running
 * stack, so tests write `s.api(…)` as with a stack of their own.
 */
export function useImportStack(
  options: Partial<StartLocalStackOptions> | (() => Partial<StartLocalStackOptions>) = {},
): ImportStack {
  let running: ImportStack | undefined;
  beforeAll(async () => {
    const given = typeof options === 'function' ? options() : options;
    running = await startImportStack(inject('azuriteConnectionString'), given);
  }, 120_000);
  afterAll(async () => {
    await running?.stop();
  });
  return new Proxy({} as ImportStack, {
    get(_target, key) {
      if (!running) throw new Error("the stack runs only while the file's tests do");
      return Reflect.get(running, key) as unknown;
    },
  });
}

/** The stack of the CLI's tests: the test configuration with the export project `CustomersOut`. */
export function useCliStack(): ImportStack {
  return useImportStack({ dmfConfig: withExportProject() });
}

/** Starts Azurite-backed stack (the run's Azurite) with private container names. */
export async function startImportStack(
  azuriteConnectionString: string,
  options: Partial<StartLocalStackOptions> = {},
): Promise<ImportStack> {
  const suffix = randomBytes(4).toString('hex');
  const names = {
    inbound: `e2e${suffix}-inbound`,
    archive: `e2e${suffix}-archive`,
    results: `e2e${suffix}-results`,
    templates: `e2e${suffix}-templates`,
    // Blob triggers scan their container: each stack watches its own, so parallel files never meet.
    recurringInbound: `e2e${suffix}-recurring`,
    outbound: `e2e${suffix}-outbound`,
    staged: `e2e${suffix}-staged`,
  };
  // the job index's tables too: each stack lists its own jobs only
  const tables = { jobs: `e2e${suffix}jobs`, jobIds: `e2e${suffix}jobids` };
  const dataDir = mkdtempSync(join(tmpdir(), 'dmf-e2e-'));
  const logs: string[] = [];
  // the app's shared F&O clients log to the console: capture that too for the secret scan
  const methods = ['log', 'info', 'warn', 'error', 'debug'] as const;
  const originals = methods.map((m) => console[m].bind(console));
  methods.forEach((m, i) => {
    console[m] = (...args: unknown[]) => {
      logs.push(`console ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`);
      originals[i]!(...args);
    };
  });
  const stack = await startLocalStack({
    dataDir,
    storageConnectionString: azuriteConnectionString,
    dmfConfig: testConfig(),
    clock: createVirtualClock({ autoAdvance: true }),
    blobPollIntervalMs: 100,
    logger: (level, category, fn, message) => logs.push(`${level} ${category} ${fn} ${message}`),
    onHostOutput: (line) => logs.push(`host ${line}`),
    ...options,
    emulator: {
      executionDurationMs: 300,
      notRunMs: 50,
      notFoundWindowMs: 50,
      errorKeysFileDelayMs: 50,
      log: (line) => logs.push(`emulator ${line}`),
      ...options.emulator,
    },
    appSettings: {
      DMF_INBOUND_CONTAINER: names.inbound,
      DMF_ARCHIVE_CONTAINER: names.archive,
      DMF_RESULTS_CONTAINER: names.results,
      DMF_TEMPLATES_CONTAINER: names.templates,
      DMF_RECURRING_INBOUND_CONTAINER: names.recurringInbound,
      DMF_OUTBOUND_CONTAINER: names.outbound,
      DMF_JOBS_TABLE: tables.jobs,
      DMF_JOB_IDS_TABLE: tables.jobIds,
      DMF_SOURCE_CONTAINERS: `${names.inbound},${names.staged}`,
      ...options.appSettings,
    },
  });
  const service = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
  const containers = {
    inbound: service.getContainerClient(names.inbound),
    archive: service.getContainerClient(names.archive),
    results: service.getContainerClient(names.results),
    templates: service.getContainerClient(names.templates),
    recurringInbound: service.getContainerClient(names.recurringInbound),
    outbound: service.getContainerClient(names.outbound),
    staged: service.getContainerClient(names.staged),
  };
  for (const c of Object.values(containers)) await c.createIfNotExists();
  const sb = new ServiceBusClient(stack.serviceBusConnectionString);
  const received: ServiceBusReceivedMessage[] = [];
  const receiver = sb.createReceiver('dmf-events', 'all', { receiveMode: 'receiveAndDelete' });
  receiver.subscribe({
    processMessage: async (m) => {
      received.push(m);
    },
    processError: async () => undefined,
  });
  const api = async (path: string, init: RequestInit = {}): Promise<Response> => {
    const send = (): Promise<Response> =>
      fetch(`${stack.functionsBaseUrl}${path}`, {
        ...init,
        headers: {
          'x-functions-key': stack.functionsKey,
          ...(init.headers as Record<string, string> | undefined),
        },
      });
    try {
      return await send();
    } catch (error) {
      // The emulator runs in this process and parses a large package synchronously: a kept-alive
      // connection the host closed meanwhile (its 5 s keep-alive timeout) fails the next request
      // before it is sent. A read is sent again once; anything else is the test's business.
      const method = (init.method ?? 'GET').toUpperCase();
      const socketClosed = (error as { cause?: { code?: string } }).cause?.code === 'UND_ERR_SOCKET';
      if (!socketClosed || (method !== 'GET' && method !== 'HEAD')) throw error;
      return send();
    }
  };
  return {
    stack,
    containers,
    names,
    tables,
    dataDir,
    logs,
    api,
    async waitForJob(id, timeoutMs = 45_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const response = await api(`/api/jobs/${id}`);
        if (response.status === 200) {
          const job = (await response.json()) as Job;
          if (job.status !== 'Pending' && job.status !== 'Running') return job;
        }
        if (Date.now() > deadline) throw new Error(`job ${id} not final within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    events: () => received,
    async stop() {
      await receiver.close().catch(() => undefined);
      await sb.close().catch(() => undefined);
      await stack.stop();
      methods.forEach((m, i) => (console[m] = originals[i]!));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A good "Customers V3" package of `rows` rows (all importable). */
export function customersPackage(
  options: { rows?: number; bad?: boolean; prefix?: string } = {},
): Promise<Buffer> {
  const rows: string[][] = [];
  for (let i = 0; i < (options.rows ?? 3); i++)
    rows.push([`${options.prefix ?? 'C'}-${i}`, `Customer ${i}`, '10']);
  if (options.bad) rows.push([`${options.prefix ?? 'C'}-bad`, 'Broken #BAD#', '10']);
  return buildPackage({
    definitionGroupName: 'CustomerImport',
    entities: [{ entityName: 'Customers V3', columns: ['CUSTOMERACCOUNT', 'NAME', 'CUSTOMERGROUPID'], rows }],
  });
}

/** An emulator fault: `route` answers HTTP `status` to the next `times` calls. */
export function statusFault(route: string, status: number, times: number): FaultSpec {
  return { route, kind: 'status', status, times };
}

/** An emulator fault: `route` answers `ms` late to the next `times` calls. */
export function latencyFault(route: string, ms: number, times?: number): FaultSpec {
  return { route, kind: 'latency', ms, ...(times !== undefined ? { times } : {}) };
}

/** An emulator fault: the next `times` executions `route` starts end with `outcome`. */
export function outcomeFault(route: string, outcome: string, times: number): FaultSpec {
  return { route, kind: 'outcome', outcome, times } as FaultSpec;
}

/** Polls `check` until it returns a value (bounded). */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a blob as text. */
export async function readText(container: ContainerClient, path: string): Promise<string> {
  return (await container.getBlobClient(path).downloadToBuffer()).toString('utf8');
}

/** Lists blob names under a prefix. */
export async function list(container: ContainerClient, prefix = ''): Promise<string[]> {
  const names: string[] = [];
  for await (const b of container.listBlobsFlat({ prefix })) names.push(b.name);
  return names;
}
