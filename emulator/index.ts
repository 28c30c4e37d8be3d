/**
 * The emulator's public entry (`@dmf-functions/emulator`): {@link startEmulator} (authority and
 * environment listeners, storage, state file), {@link emulatorEnvironmentLines}, and the exports
 * other workspaces use (config, control client, packages, Azurite, constants, types).
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startAzurite, type AzuriteInstance } from './azurite.js';
import { handleAuthority, MANAGED_IDENTITY_PATH, type AuthorityContext } from './authority.js';
import { DEFAULT_DATA_DIR, ensureEmulatorCertificates } from './certs.js';
import { loadEmulatorConfig, type EmulatorConfig, type EmulatorConfigInput } from './config.js';
import { CONTROL_PREFIX, handleControl } from './control.js';
import { createControlClient, type EmulatorControl } from './control-client.js';
import { EmulatorClock, type EmulatorClockOptions } from './clock.js';
import { EmulatorEngine } from './engine.js';
import { handleEnvironment, type EnvironmentRuntime } from './fo.js';
import { odataErrorBody, redact, sendJson } from './http.js';
import { createTokenSigner } from './jwt.js';
import { SwitchesSchema, type EmulatorSwitchesInput, type FaultSpec } from './options.js';
import { loadStateFile, StateSaver, STATE_FILE_VERSION, type LoadedState } from './state.js';
import { EmulatorStorage } from './storage.js';

export { startAzurite } from './azurite.js';
export type { AzuriteInstance, StartAzuriteOptions } from './azurite.js';
export { DEFAULT_DATA_DIR, ensureEmulatorCertificates } from './certs.js';
export type { EmulatorCertificates } from './certs.js';
export {
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  DEFAULT_CONFIG,
  DEFAULT_EXPORT_ACTIVITY_ID,
  DEFAULT_FEDERATED_SUBJECT,
  DEFAULT_IMPORT_ACTIVITY_ID,
  DEFAULT_MANAGED_IDENTITY_CLIENT_ID,
  DEFAULT_MANAGED_IDENTITY_HEADER,
  DEFAULT_TENANT_ID,
  EmulatorConfigError,
  emulatorConfigJsonSchema,
  loadEmulatorConfig,
  ORDERS_BATCH_PROJECT,
  SALES_ORDER_HEADERS_ENTITY,
  SALES_ORDER_LINES_ENTITY,
} from './config.js';
export type { EmulatorConfig, EmulatorConfigInput } from './config.js';
export { createControlClient, ControlApiError } from './control-client.js';
export type { EmulatorControl, ExecutionView, QueueMessageView } from './control-client.js';
export type { EmulatorClockOptions } from './clock.js';
export type { OverlapRecord } from './executions.js';
export type { CallRecord } from './faults.js';
export type { DataProjectDefinition } from './projects.js';
export { DATA_JOB_STATES } from './recurring.js';
export type { DataJobStateName } from './recurring.js';
export { DEFAULT_SWITCHES } from './options.js';
export type { ActiveFault, EmulatorSwitches, EmulatorSwitchesInput, FaultSpec } from './options.js';
export { buildPackage } from './package.js';
export type { PackageEntityInput } from './package.js';
export {
  buildOrdersBatchPackage,
  SAMPLE_ORDER_HEADERS,
  SAMPLE_ORDER_LINES,
  sampleOrdersCsv,
} from './sales-orders.js';
export type { OrdersBatchPackageOptions } from './sales-orders.js';
export { RESOURCE_THROTTLED_MESSAGE } from './fo.js';
export { ACTION_PATH, EXECUTION_SUMMARY_PAGE, ONPREM_PREFIX, PACKAGE_ACTIONS } from './package-api.js';
export { RECURRING_ROUTES } from './recurring-api.js';
export { CONTROL_PREFIX } from './control.js';
export { STATE_FILE_VERSION } from './state.js';
export { MANAGED_IDENTITY_API_VERSION, MANAGED_IDENTITY_PATH } from './authority.js';

/** Options of {@link startEmulator}; every switch of {@link EmulatorSwitchesInput} may be given too. */
export interface StartEmulatorOptions extends Partial<EmulatorSwitchesInput> {
  /** Configuration object or path of a JSON config file; default the built-in configuration. */
  config?: EmulatorConfigInput | string;
  /** Storage account to use; default: start a private Azurite (stopped by `stop()`). */
  storageConnectionString?: string;
  /** Folder for certificates and keys; default `.local/emulator/` in the project. */
  dataDir?: string;
  /** Emulator clock; default real time at speed 1. */
  clock?: EmulatorClockOptions;
  /** Host to bind and to put in urls; default `127.0.0.1`. */
  host?: string;
  /** Fixed ports: the authority listener, and environments by name (else the config's, else free ones). */
  ports?: { authority?: number; environments?: Record<string, number> };
  /** Faults active from the start (same shape as `control.setFault`). */
  faults?: FaultSpec[];
  /** Receives one-line log messages (secrets redacted); default: none. */
  log?: (line: string) => void;
  /**
   * Keep the emulator's state in this JSON file: loaded at start (executions, stored rows,
   * recurring queues, write-url registrations, overlaps, the call log and the clock), saved
   * atomically within 250 ms of every change and on `stop()`. Its blob container is kept on stop
   * and reused, so use storage that persists too (without `storageConnectionString` the private
   * Azurite keeps its data in `{stateFile}.azurite/`). Faults and switches are not saved (they come
   * from these options). An unusable file is moved aside and reported (`state.movedTo`).
   */
  stateFile?: string;
}

/** What happened to the state file at start (see {@link StartEmulatorOptions.stateFile}). */
export interface EmulatorStateInfo {
  /** Path of the state file, as given. */
  file: string;
  /** True when a saved state was loaded. */
  restored: boolean;
  /** Why an existing file could not be used. */
  problem?: string;
  /** Where that file was moved (it is never overwritten). */
  movedTo?: string;
}

/** An environment of a running emulator. */
export interface RunningEnvironment {
  name: string;
  type: 'cloud' | 'onprem';
  /** F&O base url and JWT audience: `https://127.0.0.1:{port}`. */
  baseUrl: string;
  /** `{baseUrl}/_emulator`. */
  controlUrl: string;
  /** Control API client bound to this environment. */
  control: EmulatorControl;
}

/** Client credentials for the first configured client. */
export interface EmulatorCredentials {
  tenantId: string;
  clientId: string;
  clientSecret: string | undefined;
  /** `https://127.0.0.1:{port}`, for `authorityHost` of @azure/identity. */
  authorityHost: string;
  /** Full token endpoint `{authorityHost}/{tenantId}/oauth2/v2.0/token`. */
  tokenUrl: string;
  /** `{baseUrl}/.default` of the first environment. */
  scope: string;
  /** PEM with the generated client certificate and key (ClientCertificateCredential `certificatePath`). */
  certificatePath: string;
}

/** A running emulator. */
export interface RunningEmulator {
  /** Base url of the first environment. */
  baseUrl: string;
  environments: RunningEnvironment[];
  authorityHost: string;
  tenantId: string;
  tokenUrl: string;
  /** AD FS token endpoint (on-premises environments). */
  adfsTokenUrl: string;
  credentials: EmulatorCredentials;
  caCertPath: string;
  caCertPem: string;
  /** Control API url of the first environment. */
  controlUrl: string;
  recurring: { importActivityId: string | undefined; exportActivityId: string | undefined };
  storageConnectionString: string;
  /** Control API client (first environment; state is shared by all environments). */
  control: EmulatorControl;
  /** The validated configuration in use. */
  config: EmulatorConfig;
  /**
   * App Service-style managed identity endpoint: set `IDENTITY_ENDPOINT` = `identityEndpoint` and
   * `IDENTITY_HEADER` = `identityHeader` in a process's environment (before it constructs
   * `ManagedIdentityCredential`). `clientIds`: the configured identities (first = system-assigned).
   */
  managedIdentity: { identityEndpoint: string; identityHeader: string; clientIds: string[] };
  /** The state file in use, when `stateFile` was given. */
  state: EmulatorStateInfo | undefined;
  /** Stops every listener and the private Azurite, if any. */
  stop(): Promise<void>;
}

/**
 * The `KEY=value` pairs `npm run emulator` prints (before `READY`), in order: everything a client
 * needs. Keys: DMF_BASE_URL, DMF_AUTHORITY_HOST, DMF_TENANT_ID, DMF_TOKEN_URL, DMF_CLIENT_ID,
 * DMF_CLIENT_SECRET, DMF_CLIENT_CERTIFICATE_PATH, DMF_SCOPE, DMF_CA_CERT, DMF_CONTROL_URL,
 * DMF_RECURRING_IMPORT_ACTIVITY, DMF_RECURRING_EXPORT_ACTIVITY, DMF_STORAGE_CONNECTION_STRING,
 * DMF_ADFS_TOKEN_URL (only with an on-premises environment) and DMF_BASE_URL_{NAME} per further
 * environment. Keys whose value is unknown (no client secret, no recurring activity) are left out.
 * These lines are a contract: scripts parse them.
 */
export function emulatorEnvironmentLines(emulator: RunningEmulator): [string, string][] {
  const lines: [string, string | undefined][] = [
    ['DMF_BASE_URL', emulator.baseUrl],
    ['DMF_AUTHORITY_HOST', emulator.authorityHost],
    ['DMF_TENANT_ID', emulator.tenantId],
    ['DMF_TOKEN_URL', emulator.tokenUrl],
    ['DMF_CLIENT_ID', emulator.credentials.clientId],
    ['DMF_CLIENT_SECRET', emulator.credentials.clientSecret],
    ['DMF_CLIENT_CERTIFICATE_PATH', emulator.credentials.certificatePath],
    ['DMF_SCOPE', emulator.credentials.scope],
    ['DMF_CA_CERT', emulator.caCertPath],
    ['DMF_CONTROL_URL', emulator.controlUrl],
    ['DMF_RECURRING_IMPORT_ACTIVITY', emulator.recurring.importActivityId],
    ['DMF_RECURRING_EXPORT_ACTIVITY', emulator.recurring.exportActivityId],
    ['DMF_STORAGE_CONNECTION_STRING', emulator.storageConnectionString],
  ];
  if (emulator.environments.some((e) => e.type === 'onprem'))
    lines.push(['DMF_ADFS_TOKEN_URL', emulator.adfsTokenUrl]);
  for (const env of emulator.environments.slice(1)) {
    lines.push([`DMF_BASE_URL_${env.name.toUpperCase().replace(/-/g, '_')}`, env.baseUrl]);
  }
  return lines.filter((line): line is [string, string] => line[1] !== undefined);
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function safe(
  handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  log: (line: string) => void,
  inFlight: Set<Promise<void>>,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const handled = handler(req, res).catch((error: unknown) => {
      log(`request ${redact(req.url ?? '')} failed: ${redact(String(error))}`);
      if (!res.headersSent && !res.destroyed)
        sendJson(res, 500, odataErrorBody(`Unexpected error: ${String(error)}`, 'System.Exception'));
      else res.destroy();
    });
    // stop() waits for handlers still running, so their state changes are in the final save.
    inFlight.add(handled);
    void handled.finally(() => inFlight.delete(handled));
  };
}

/** Starts the emulator: authority listener, one listener per environment, storage. */
export async function startEmulator(options: StartEmulatorOptions = {}): Promise<RunningEmulator> {
  const config = loadEmulatorConfig(options.config);
  const switchKeys = Object.keys(SwitchesSchema.shape);
  const switchInput = Object.fromEntries(Object.entries(options).filter(([k]) => switchKeys.includes(k)));
  const parsedSwitches = SwitchesSchema.safeParse(switchInput);
  if (!parsedSwitches.success) {
    throw new Error(
      `Invalid emulator options: ${parsedSwitches.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  const log = options.log ?? (() => undefined);
  const host = options.host ?? '127.0.0.1';
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const certs = ensureEmulatorCertificates(options.dataDir ?? DEFAULT_DATA_DIR);
  let azurite: AzuriteInstance | undefined;
  let connectionString = options.storageConnectionString;
  if (!connectionString) {
    // With a state file the private Azurite keeps its data next to it, so the state's blobs survive too.
    azurite = await startAzurite({
      host: '127.0.0.1',
      ...(options.stateFile ? { location: `${options.stateFile}.azurite` } : {}),
    });
    connectionString = azurite.connectionString;
  }
  const servers: Server[] = [];
  let storage: EmulatorStorage | undefined;
  try {
    // State file problems must be seen even without a log sink: they would otherwise look like lost state.
    const report = options.log ?? ((line: string) => process.stderr.write(`[emulator] ${line}\n`));
    const loaded: LoadedState = options.stateFile
      ? await loadStateFile(options.stateFile, report)
      : { state: undefined };
    const saved = loaded.state;
    storage = new EmulatorStorage(connectionString, saved?.storage.container);
    const created = await storage.init();
    const clock = new EmulatorClock(options.clock ?? { mode: 'real' }, saved?.clock);
    const engine = new EmulatorEngine(config, clock, parsedSwitches.data, storage, log);
    if (saved) {
      engine.restore(saved.engine);
      log(
        `state restored from ${options.stateFile ?? ''}: ${saved.engine.executions.length} executions, ${saved.engine.messages.length} recurring messages, clock ${new Date(clock.now()).toISOString()}`,
      );
      if (created && (saved.engine.executions.length > 0 || saved.engine.messages.length > 0)) {
        report(
          `state file ${options.stateFile ?? ''}: blob container ${storage.containerName} did not exist in this storage; packages, exports and error files of restored executions are gone (use the same, persistent storage)`,
        );
      }
    }
    for (const fault of options.faults ?? []) engine.faults.add(fault);
    const activeStorage = storage;
    const saver =
      options.stateFile && !loaded.readOnly
        ? new StateSaver(
            options.stateFile,
            () => ({
              version: STATE_FILE_VERSION,
              savedAt: new Date().toISOString(),
              clock: { now: clock.now(), savedAt: Date.now() },
              storage: { container: activeStorage.containerName },
              engine: engine.snapshot(),
            }),
            log,
          )
        : undefined;
    const changed = (): void => saver?.schedule();
    const inFlight = new Set<Promise<void>>();
    const signer = createTokenSigner(certs.signingKeyPem);
    const envs: EnvironmentRuntime[] = [];
    let authorityHost = '';
    const auth: AuthorityContext = {
      config,
      engine,
      signer,
      authorityHost: () => authorityHost,
      environments: () => envs,
      generatedClientCertPem: certs.clientCertPem,
    };
    const tls = { key: certs.serverKeyPem, cert: certs.serverCertPem };
    const authorityServer = createServer(
      tls,
      safe((req, res) => handleAuthority(auth, req, res).finally(changed), log, inFlight),
    );
    servers.push(authorityServer);
    authorityServer.on('error', (error) => log(`authority listener error: ${String(error)}`));
    authorityHost = `https://${urlHost}:${await listen(authorityServer, options.ports?.authority ?? 0, host)}`;
    const info = (): unknown => ({
      authorityHost,
      tenantId: config.tenantId,
      environments: envs.map((e) => ({ name: e.name, type: e.type, baseUrl: e.baseUrl })),
      recurringActivities: config.recurringActivities,
      dataProjects: config.dataProjects,
      storageContainer: activeStorage.containerName,
      stateFile: options.stateFile ?? null,
      clock: { mode: clock.mode, speed: clock.speed },
    });
    for (const envConfig of config.environments) {
      const env: EnvironmentRuntime = {
        name: envConfig.name,
        type: envConfig.type,
        baseUrl: '',
        clients: envConfig.clients,
      };
      const server = createServer(
        tls,
        safe(
          async (req, res) => {
            const path = (req.url ?? '/').split('?')[0] ?? '/';
            try {
              if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`)) {
                await handleControl(engine, auth, env, info, req, res);
              } else {
                await handleEnvironment({ engine, auth, env }, req, res);
              }
            } finally {
              changed();
            }
          },
          log,
          inFlight,
        ),
      );
      servers.push(server);
      server.on('error', (error) => log(`${envConfig.name} listener error: ${String(error)}`));
      const port = await listen(
        server,
        options.ports?.environments?.[envConfig.name] ?? envConfig.port,
        host,
      );
      env.baseUrl = `https://${urlHost}:${port}`;
      envs.push(env);
    }
    const running = envs.map((e) => ({
      name: e.name,
      type: e.type,
      baseUrl: e.baseUrl,
      controlUrl: `${e.baseUrl}${CONTROL_PREFIX}`,
      control: createControlClient(`${e.baseUrl}${CONTROL_PREFIX}`, { caCertPem: certs.caCertPem }),
    }));
    const first = running[0];
    if (!first) throw new Error('no environment configured');
    const client = config.clients[0];
    const tokenUrl = `${authorityHost}/${config.tenantId}/oauth2/v2.0/token`;
    let stopped = false;
    return {
      baseUrl: first.baseUrl,
      environments: running,
      authorityHost,
      tenantId: config.tenantId,
      tokenUrl,
      adfsTokenUrl: `${authorityHost}/adfs/oauth2/token`,
      credentials: {
        tenantId: config.tenantId,
        clientId: client?.clientId ?? '',
        clientSecret: client?.secrets[0],
        authorityHost,
        tokenUrl,
        scope: `${first.baseUrl}/.default`,
        certificatePath: certs.clientCertAndKeyPath,
      },
      caCertPath: certs.caCertPath,
      caCertPem: certs.caCertPem,
      controlUrl: first.controlUrl,
      recurring: {
        importActivityId: config.recurringActivities.find((a) => a.direction === 'import')?.id,
        exportActivityId: config.recurringActivities.find((a) => a.direction === 'export')?.id,
      },
      storageConnectionString: connectionString,
      control: first.control,
      config,
      managedIdentity: {
        identityEndpoint: `${authorityHost}${MANAGED_IDENTITY_PATH}`,
        identityHeader: config.managedIdentityHeader,
        clientIds: config.managedIdentities.map((m) => m.clientId),
      },
      state: options.stateFile
        ? {
            file: options.stateFile,
            restored: saved !== undefined,
            ...(loaded.problem !== undefined ? { problem: loaded.problem } : {}),
            ...(loaded.movedTo !== undefined ? { movedTo: loaded.movedTo } : {}),
          }
        : undefined,
      async stop() {
        if (stopped) return;
        stopped = true;
        await closeAll(servers);
        if (saver) {
          // Let running handlers and finalizations land in the final save. Bounded: an injected
          // latency can hold a handler for long, and an unfinished finalization is saved as not
          // finalized (redone at the next start).
          await settleWithin([...inFlight], STOP_WAIT_MS);
          await settleWithin([engine.idle()], STOP_WAIT_MS);
          await saver.close();
          log(`state saved to ${options.stateFile ?? ''}`);
        }
        // With a state file the container holds the saved state's blobs: keep it for the next start.
        if (!options.stateFile) await activeStorage.dispose();
        await azurite?.stop();
      },
    };
  } catch (error) {
    await closeAll(servers);
    if (storage && !options.stateFile) await storage.dispose();
    await azurite?.stop();
    throw error;
  }
}

/** Longest wait in `stop()` for request handlers still running (with a state file). */
const STOP_WAIT_MS = 5_000;

async function settleWithin(promises: Promise<unknown>[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(promises),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
  ]);
  clearTimeout(timer);
}

async function closeAll(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          if (!s.listening) {
            resolve();
            return;
          }
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}
