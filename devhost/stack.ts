/**
 * The whole local stack in one call: Azurite, the F&O DMF emulator, the Service Bus broker and the
 * local Functions host running the unchanged app. `npm start` and the end-to-end tests use it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  startAzurite,
  startEmulator,
  type AzuriteInstance,
  type RunningEmulator,
  type StartEmulatorOptions,
} from '@dmf-functions/emulator';
import { startServiceBusBroker, type ServiceBusBroker } from './servicebus/index.js';
import { startHost, type HostClock, type HostLimits, type HostLogger, type RunningHost } from './index.js';

/**
 * The project root: the app this stack runs, i.e. the repository that holds this workspace
 * (its package.json `main` is the app's entry, samples/ its sample configuration).
 */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The host's own CLI (`@dmf-functions/devhost/main`), which a child-process host runs. */
const HOST_MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
/** Sample configuration used when none is given. */
export const SAMPLE_CONFIG_PATH = join(PROJECT_ROOT, 'samples', 'dmf.config.json');
/** Name of the environment in the sample configuration that points at the emulator. */
export const LOCAL_ENVIRONMENT = 'local';
/** App setting holding the emulator's client secret (named by the sample configuration). */
export const LOCAL_SECRET_SETTING = 'LOCAL_FNO_CLIENT_SECRET';

/** Options for {@link startLocalStack}. */
export interface StartLocalStackOptions {
  /** Folder for durable state, blob receipts and (when `persistent`) Azurite's data. Required. */
  dataDir: string;
  /** Keep Azurite's data on disk under `dataDir/azurite` (npm start); default in memory. */
  persistent?: boolean;
  /** Use this storage instead of starting an Azurite (tests share the run's Azurite). */
  storageConnectionString?: string;
  /** Emulator options (clock, switches, faults); storage is always the stack's. */
  emulator?: Omit<StartEmulatorOptions, 'storageConnectionString'>;
  /**
   * DMF configuration (the `DMF_CONFIG` JSON). Default: samples/dmf.config.json. Its environment
   * named `local` is pointed at the running emulator (url, tenant, client, authority host).
   */
  dmfConfig?: Record<string, unknown>;
  /** Extra or overriding app settings. */
  appSettings?: Record<string, string>;
  /** Where the host runs: in this process (default; tests can reach `host.durable`) or a child process. */
  hostMode?: 'in-process' | 'child-process';
  /** In-process host only: time source (a virtual clock in tests). */
  clock?: HostClock;
  /** In-process host only: log sink. */
  logger?: HostLogger;
  /** Port for the host's HTTP server; default 0 (free port). */
  port?: number;
  /**
   * Ports for the Azurite services and the Service Bus broker (npm start reuses the last start's);
   * default 0 (free ports). The emulator's are in `emulator.ports`.
   */
  ports?: { blob?: number; queue?: number; table?: number; serviceBus?: number };
  /** Key for authLevel function; default random. */
  functionsKey?: string;
  /** Blob trigger polling interval in ms (default: the host's). */
  blobPollIntervalMs?: number;
  /**
   * In-process host only, tests only: shortens or switches off one of Azure's limits (see
   * devhost/README.md, "Limits (as on Azure)"). `npm start` and child-process hosts always run with them.
   */
  limits?: Partial<HostLimits>;
  /** Child-process host only: receives each line it prints (default: dropped). */
  onHostOutput?: (line: string) => void;
}

/** A host running in a child process (crash tests kill and restart it). */
export interface ChildHost {
  process: ChildProcess;
  baseUrl: string;
  functionsKey: string;
  /** Sends SIGKILL and waits for the exit. */
  kill(): Promise<void>;
  /** Sends SIGTERM and waits for the exit. */
  stop(): Promise<void>;
}

/** A running local stack. */
export interface LocalStack {
  azurite: AzuriteInstance | undefined;
  emulator: RunningEmulator;
  broker: ServiceBusBroker;
  /** The in-process host (undefined in child-process mode). */
  host: RunningHost | undefined;
  /** The child-process host (undefined in in-process mode). */
  childHost: ChildHost | undefined;
  storageConnectionString: string;
  serviceBusConnectionString: string;
  functionsBaseUrl: string;
  functionsKey: string;
  /** The app settings the host was started with (secrets included: do not print). */
  appSettings: Record<string, string>;
  /** Starts the host again after `childHost.kill()` (child-process mode), on the same data dir. */
  restartHost(): Promise<ChildHost>;
  /** Stops the host, broker, emulator and Azurite (if the stack started it). */
  stop(): Promise<void>;
}

/** Reads the sample DMF configuration. */
export function readSampleConfig(): Record<string, unknown> {
  return JSON.parse(readFileSync(SAMPLE_CONFIG_PATH, 'utf8')) as Record<string, unknown>;
}

/** File in a data folder holding the function key `npm start` keeps across restarts. */
export const FUNCTIONS_KEY_FILE = 'functions.key';

/**
 * The function key kept in `dataDir` (created on first use, readable by the owner only), so the
 * FUNCTIONS_KEY that `npm start` prints stays the same from one start to the next and scripts or an
 * open dashboard keep working; deleting the data folder makes a new one.
 */
export function persistentFunctionsKey(dataDir: string): string {
  const file = join(dataDir, FUNCTIONS_KEY_FILE);
  if (existsSync(file)) {
    const kept = readFileSync(file, 'utf8').trim();
    if (kept !== '') return kept;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(24).toString('base64url');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  return key;
}

/** Points the `local` environment of a DMF configuration at a running emulator. */
export function pointConfigAtEmulator(
  config: Record<string, unknown>,
  emulator: RunningEmulator,
): Record<string, unknown> {
  const environments = Array.isArray(config.environments) ? (config.environments as unknown[]) : [];
  return {
    ...config,
    environments: environments.map((value) => {
      const env = value as Record<string, unknown>;
      if (env.name !== LOCAL_ENVIRONMENT) return env;
      const auth = (env.auth ?? {}) as Record<string, unknown>;
      return {
        ...env,
        url: emulator.baseUrl,
        auth: {
          ...auth,
          kind: 'clientSecret',
          tenantId: emulator.tenantId,
          clientId: emulator.credentials.clientId,
          clientSecretSetting: LOCAL_SECRET_SETTING,
          authorityHost: emulator.authorityHost,
        },
      };
    }),
  };
}

async function startChildHost(
  options: StartLocalStackOptions,
  appSettings: Record<string, string>,
  hostDataDir: string,
  caCertPath: string,
  port: number,
  functionsKey: string | undefined,
): Promise<ChildHost> {
  // `node --import tsx` runs the host in this child itself (the tsx CLI would add a grandchild that
  // a SIGKILL of the child does not reach).
  const args = ['--import', 'tsx', HOST_MAIN, '--app-root', PROJECT_ROOT];
  args.push('--data-dir', hostDataDir, '--port', String(port));
  // `--key=…`: a key may start with "-" (base64url), which parseArgs would take for an option
  if (functionsKey) args.push(`--key=${functionsKey}`);
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...appSettings, NODE_EXTRA_CA_CERTS: caCertPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const values: Record<string, string> = {};
  let output = '';
  await new Promise<void>((ready, fail) => {
    const onLine = (chunk: Buffer): void => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split('\n')) {
        if (line) options.onHostOutput?.(line);
        const m = /^([A-Z_]+)=(.*)$/.exec(line);
        if (m) values[m[1]!] = m[2]!;
        if (line === 'READY') ready();
      }
    };
    child.stdout?.on('data', onLine);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      for (const line of chunk.toString().split('\n')) if (line) options.onHostOutput?.(line);
    });
    child.once('exit', (code) =>
      fail(new Error(`host exited with ${String(code)} before READY:\n${output}`)),
    );
  });
  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    process: child,
    baseUrl: values.FUNCTIONS_BASE_URL ?? '',
    functionsKey: values.FUNCTIONS_KEY ?? '',
    kill: () => waitExit('SIGKILL'),
    stop: () => waitExit('SIGTERM'),
  };
}

/**
 * Starts Azurite (unless a connection string is given), the F&O emulator, the Service Bus broker and
 * the local Functions host with the app (package.json `main`, so build first: `npm run build`).
 */
export async function startLocalStack(options: StartLocalStackOptions): Promise<LocalStack> {
  const dataDir = resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true });
  const stoppers: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stoppers.splice(0).reverse()) await stop().catch(() => undefined);
  };
  try {
    let azurite: AzuriteInstance | undefined;
    let storageConnectionString = options.storageConnectionString;
    if (!storageConnectionString) {
      azurite = await startAzurite({
        ...(options.persistent ? { location: join(dataDir, 'azurite') } : {}),
        blobPort: options.ports?.blob,
        queuePort: options.ports?.queue,
        tablePort: options.ports?.table,
      });
      stoppers.push(() => azurite!.stop());
      storageConnectionString = azurite.connectionString;
    }
    const emulator = await startEmulator({
      // A persistent stack keeps the emulator's executions too, so resumed orchestrations find them.
      ...(options.persistent ? { stateFile: join(dataDir, 'emulator-state.json') } : {}),
      ...options.emulator,
      storageConnectionString,
    });
    stoppers.push(() => emulator.stop());
    const broker = await startServiceBusBroker({ port: options.ports?.serviceBus });
    stoppers.push(() => broker.stop());

    const dmfConfig = pointConfigAtEmulator(options.dmfConfig ?? readSampleConfig(), emulator);
    const appSettings: Record<string, string> = {
      AzureWebJobsStorage: storageConnectionString,
      ServiceBusConnection: broker.connectionString,
      DMF_CONFIG: JSON.stringify(dmfConfig),
      [LOCAL_SECRET_SETTING]: emulator.credentials.clientSecret ?? '',
      FUNCTIONS_WORKER_RUNTIME: 'node',
      ...options.appSettings,
    };
    const hostDataDir = join(dataDir, 'devhost');
    let host: RunningHost | undefined;
    let childHost: ChildHost | undefined;
    if (options.hostMode === 'child-process') {
      childHost = await startChildHost(
        options,
        appSettings,
        hostDataDir,
        emulator.caCertPath,
        options.port ?? 0,
        options.functionsKey,
      );
      const started = childHost;
      stoppers.push(() => started.stop());
    } else {
      if (!existsSync(join(PROJECT_ROOT, 'dist', 'src', 'index.js'))) {
        throw new Error('The app is not built: run `npm run build` first (dist/src/index.js is missing).');
      }
      host = await startHost({
        appRoot: PROJECT_ROOT,
        env: appSettings,
        dataDir: hostDataDir,
        port: options.port ?? 0,
        clock: options.clock,
        logger: options.logger,
        functionsKey: options.functionsKey,
        storageConnectionString,
        blobPollIntervalMs: options.blobPollIntervalMs,
        limits: options.limits,
      });
      const started = host;
      stoppers.push(() => started.stop());
    }
    const stack: LocalStack = {
      azurite,
      emulator,
      broker,
      host,
      childHost,
      storageConnectionString,
      serviceBusConnectionString: broker.connectionString,
      functionsBaseUrl: host?.baseUrl ?? childHost?.baseUrl ?? '',
      functionsKey: host?.functionsKey ?? childHost?.functionsKey ?? '',
      appSettings,
      async restartHost() {
        if (options.hostMode !== 'child-process') throw new Error('restartHost needs hostMode child-process');
        const port = Number(new URL(stack.functionsBaseUrl).port);
        const restarted = await startChildHost(
          options,
          appSettings,
          hostDataDir,
          emulator.caCertPath,
          port,
          stack.functionsKey,
        );
        stoppers.push(() => restarted.stop());
        stack.childHost = restarted;
        return restarted;
      },
      stop: stopAll,
    };
    return stack;
  } catch (error) {
    await stopAll();
    throw error;
  }
}
