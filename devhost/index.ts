/**
 * The local Functions host's public entry (`@dmf-functions/devhost`): {@link startHost} loads the
 * unchanged app, serves its HTTP triggers and the Durable HTTP API, runs the durable engine and the
 * timer, blob and Service Bus triggers; plus the clocks, limits, keys and app loader others use.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { AppRegistry, RegisteredFunction } from './core-api.js';
import { createSystemClock } from './clock.js';
import type { HostClock } from './clock.js';
import { durableClientInputs, unsupportedBindings } from './bindings.js';
import type { BindingServices } from './bindings.js';
import { durableClientBindingData } from './durable/http-api.js';
import { DurableEngine } from './durable/engine.js';
import { startDurableRpcServer } from './durable/rpc-server.js';
import { getProgrammingModel } from './core-api.js';
import { startHttpServer } from './http-server.js';
import { DURABLE_SYSTEM_KEY_NAME, loadOrCreateHostKeys } from './keys.js';
import { resolveLimits } from './limits.js';
import type { HostLimits, ResolvedLimits } from './limits.js';
import { consoleLogger, runAppHooks } from './invoke.js';
import type { HostLogger } from './invoke.js';
import { loadApp } from './load-app.js';
import { startTimerTriggers } from './triggers/timer.js';
import { startBlobTriggers } from './triggers/blob.js';
import { applyOutputBindings } from './triggers/outputs.js';
import { startServiceBusTriggers } from './triggers/service-bus.js';

export { createFastForwardClock, createSystemClock, createVirtualClock } from './clock.js';
export type {
  FastForwardClock,
  FastForwardClockOptions,
  HostClock,
  VirtualClock,
  VirtualClockOptions,
} from './clock.js';
export type { HostLogger } from './invoke.js';
export type { InstanceStatus } from './durable/engine.js';
export { FUNCTIONS_KEY_HEADER } from './http-server.js';
export { installCoreApi } from './core-api.js';
export type { AppRegistry, RegisteredFunction, RegisteredHook } from './core-api.js';
export { loadApp, readAppMain, resolveMainFiles } from './load-app.js';
export { AZURE_LIMITS, formatTimeSpan, parseTimeSpan } from './limits.js';
export type { HostLimits, ResolvedLimits } from './limits.js';
export { DURABLE_SYSTEM_KEY_NAME, HOST_SECRETS_FILE, readHostKeys } from './keys.js';
export type { HostKeys } from './keys.js';

/** Default task hub when host.json names none (the extension's default). */
export const DEFAULT_TASK_HUB = 'TestHubName';
/** App setting naming the storage connection used when a binding names none. */
export const DEFAULT_STORAGE_SETTING = 'AzureWebJobsStorage';

/** File in the data dir naming the process that uses it. */
export const DATA_DIR_LOCK_FILE = 'devhost.lock';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `dataDir` for this process: two host processes on one data dir would both drive the same
 * instances. A lock left by a killed process is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const file = join(dataDir, DATA_DIR_LOCK_FILE);
  if (existsSync(file)) {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) {
      throw new Error(
        `devhost: data dir ${dataDir} is in use by process ${pid}; stop it or use another --data-dir.`,
      );
    }
  }
  writeFileSync(file, String(process.pid));
  return () => {
    if (existsSync(file) && readFileSync(file, 'utf8').trim() === String(process.pid))
      rmSync(file, { force: true });
  };
}

/** Options for {@link startHost}. */
export interface StartHostOptions {
  /** Folder with the app's package.json and host.json. */
  appRoot: string;
  /** Overrides package.json `main` (a file or glob relative to appRoot). */
  main?: string;
  /** App settings; copied into `process.env` before the app loads, as the host does. */
  env?: Record<string, string>;
  /** Where durable state, blob receipts and other host state are kept. Default `<appRoot>/.local/devhost`. */
  dataDir?: string;
  /** Port for HTTP triggers and the Durable API; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** Time source; pass a virtual clock in tests. Default: system clock. */
  clock?: HostClock;
  /** Storage connection string for blob triggers when the app settings do not define the connection. */
  storageConnectionString?: string;
  /** Key for authLevel function/admin HTTP triggers. Default: random. */
  functionsKey?: string;
  /** Log sink. Default: console (user logs and system warnings). */
  logger?: HostLogger;
  /** Blob trigger polling interval in ms. Default 1000. */
  blobPollIntervalMs?: number;
  /** When false, timer/blob/Service Bus triggers are not started (HTTP and Durable only). Default true. */
  startTriggers?: boolean;
  /**
   * Azure's limits (100 MB bodies, 230 s idle cut-off, host.json functionTimeout, JSON-only durable
   * starts) are always on; a test may shorten or switch one off here, nothing else can.
   */
  limits?: Partial<HostLimits>;
  /**
   * Where durable state lives: `files` (default) under `dataDir`, or `memory` (nothing survives the
   * host; benchmarks use it to measure the engine without a filesystem).
   */
  durableStore?: 'files' | 'memory';
}

/** A running host. */
export interface RunningHost {
  /** e.g. `http://127.0.0.1:53211`; HTTP triggers live under `${baseUrl}/api/`. */
  baseUrl: string;
  /** Key accepted in `x-functions-key` or `?code=`. */
  functionsKey: string;
  /** The master key (every route, the admin API and the Durable webhooks). Not printed; kept in `<dataDir>/secrets/host.json`. */
  masterKey: string;
  /** System keys by name: `durabletask_extension` opens `/runtime/webhooks/durabletask`. */
  systemKeys: Readonly<Record<string, string>>;
  /** The limits in force. */
  limits: ResolvedLimits;
  /** The worker's HTTP proxy when the app enabled HTTP streaming (requests are forwarded there). */
  httpStreamingUri: string | undefined;
  /** Functions the app registered, by name, with their binding metadata. */
  functions: ReadonlyMap<string, RegisteredFunction>;
  /** The durable engine (status, waiting for completion, events) for tests and tools. */
  durable: DurableEngine;
  /** Blob trigger control (scan now) for tests. */
  blobTriggers: { scanNow(): Promise<void> };
  /** Stops triggers, the HTTP server and the engine; runs appTerminate hooks. */
  stop(): Promise<void>;
}

const hostJsonSchema = z
  .object({
    functionTimeout: z.string().optional(),
    extensions: z
      .object({
        http: z.object({ routePrefix: z.string().optional() }).loose().optional(),
        durableTask: z
          .object({
            hubName: z.string().optional(),
            maxConcurrentActivityFunctions: z.number().int().positive().optional(),
          })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

/** The host.json settings the local host honours. */
export interface HostJsonSettings {
  routePrefix: string;
  taskHub: string;
  maxConcurrentActivities: number;
  /** `functionTimeout` as written (a TimeSpan), if any. */
  functionTimeout: string | undefined;
}

/** Reads host.json of the app (missing file → defaults). */
export function readHostJson(appRoot: string): HostJsonSettings {
  const file = join(appRoot, 'host.json');
  const parsed = existsSync(file) ? hostJsonSchema.parse(JSON.parse(readFileSync(file, 'utf8'))) : {};
  return {
    routePrefix: parsed.extensions?.http?.routePrefix ?? 'api',
    taskHub: parsed.extensions?.durableTask?.hubName ?? DEFAULT_TASK_HUB,
    maxConcurrentActivities: parsed.extensions?.durableTask?.maxConcurrentActivityFunctions ?? 10,
    functionTimeout: parsed.functionTimeout,
  };
}

/**
 * Starts the local Functions host: loads the unchanged app through its package.json `main`, serves
 * HTTP triggers and the Durable HTTP API, runs the Durable engine, and starts timer, blob and
 * Service Bus triggers.
 */
export async function startHost(options: StartHostOptions): Promise<RunningHost> {
  const appRoot = resolve(options.appRoot);
  const logger = options.logger ?? consoleLogger;
  const clock = options.clock ?? createSystemClock();
  const dataDir = resolve(options.dataDir ?? join(appRoot, '.local', 'devhost'));
  await mkdir(dataDir, { recursive: true });
  const unlock = lockDataDir(dataDir);
  for (const [k, v] of Object.entries(options.env ?? {})) process.env[k] = v;
  if (options.storageConnectionString && !process.env[DEFAULT_STORAGE_SETTING]) {
    process.env[DEFAULT_STORAGE_SETTING] = options.storageConnectionString;
  }
  const settings = readHostJson(appRoot);
  const limits = resolveLimits(options.limits, settings.functionTimeout);
  const functionsKey = options.functionsKey ?? randomBytes(24).toString('base64url');
  const keys = loadOrCreateHostKeys(dataDir);
  const systemKey = keys.systemKeys[DURABLE_SYSTEM_KEY_NAME] as string;

  const registry: AppRegistry = {
    functions: new Map(),
    hooks: [],
    log: (level, category, message) => logger(level, category, 'host', message),
    functionTimeoutMs: limits.functionTimeoutMs,
  };
  await loadApp(registry, { appRoot, main: options.main });
  // The worker asks the library for its capabilities once the app is loaded; with
  // `app.setup({ enableHttpStream: true })` the library starts its HTTP proxy and names it (HttpUri).
  const capabilities = (await getProgrammingModel().getCapabilities?.({})) ?? {};
  const httpStreamingUri = capabilities.HttpUri;

  const engine = new DurableEngine({
    registry,
    clock,
    dataDir,
    taskHub: settings.taskHub,
    logger,
    maxConcurrentActivities: settings.maxConcurrentActivities,
    store: options.durableStore,
  });
  const setting = (name: string): string | undefined => options.env?.[name] ?? process.env[name];
  const connection = (name: string | undefined): string | undefined => {
    const key = name && name !== '' ? name : DEFAULT_STORAGE_SETTING;
    return (
      setting(key) ??
      setting(`${key}__connectionString`) ??
      (key === DEFAULT_STORAGE_SETTING ? options.storageConnectionString : undefined)
    );
  };
  let baseUrl = '';
  const rpc = await startDurableRpcServer({
    engine,
    publicBaseUrl: () => baseUrl,
    systemKey,
    jsonOnlyStarts: limits.jsonOnlyDurableStarts,
    onError: (err) => logger('error', 'system', 'durable', String(err)),
  });
  const bindings: BindingServices = {
    extraInputs: (fn) =>
      durableClientInputs(fn, () =>
        durableClientBindingData(baseUrl, rpc.rpcBaseUrl, settings.taskHub, systemKey),
      ),
    applyOutputs: (fn, outputData, params) =>
      applyOutputBindings(fn, outputData, { setting, storageConnection: connection, logger }, params),
  };
  engine.bindings = bindings;
  for (const problem of unsupportedBindings(registry.functions.values())) {
    logger('warning', 'system', 'host', `Binding not supported by the local host (ignored): ${problem}`);
  }

  await runAppHooks(registry, 'appStart');
  const triggers: { timers?: ReturnType<typeof startTimerTriggers> } = {};
  const http = await startHttpServer({
    registry,
    engine,
    logger,
    functionsKey,
    keys,
    port: options.port ?? 0,
    host: options.host ?? '127.0.0.1',
    routePrefix: settings.routePrefix,
    bindings,
    limits,
    streamingUri: httpStreamingUri,
    runNow: (name) => triggers.timers?.runNow(name) ?? false,
  });
  baseUrl = http.baseUrl;
  process.env.WEBSITE_HOSTNAME ??= new URL(http.baseUrl).host;
  await engine.start();

  const startTriggers = options.startTriggers ?? true;
  const timers = startTriggers
    ? startTimerTriggers({ registry, clock, logger, dataDir, bindings })
    : undefined;
  triggers.timers = timers;
  const blobs = startTriggers
    ? await startBlobTriggers({
        registry,
        logger,
        connection,
        bindings,
        pollIntervalMs: options.blobPollIntervalMs ?? 1000,
      })
    : undefined;
  const serviceBus = startTriggers
    ? await startServiceBusTriggers({ registry, logger, setting, bindings })
    : undefined;

  let stopped = false;
  return {
    baseUrl: http.baseUrl,
    functionsKey,
    masterKey: keys.masterKey,
    systemKeys: keys.systemKeys,
    limits,
    httpStreamingUri,
    functions: registry.functions,
    durable: engine,
    blobTriggers: { scanNow: () => blobs?.scanNow() ?? Promise.resolve() },
    async stop() {
      if (stopped) return;
      stopped = true;
      timers?.stop();
      await blobs?.stop();
      await serviceBus?.stop();
      await http.close();
      await rpc.close();
      await engine.stop();
      await runAppHooks(registry, 'appTerminate');
      unlock();
    },
  };
}
