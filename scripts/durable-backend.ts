/**
 * The Durable Functions backend a deployment runs on, and the host.json the package ships for it.
 *
 * One azd environment value, `DMF_DURABLE_BACKEND` (`azureStorage`, the default, or `scheduler`),
 * drives both halves: infra/main.parameters.json passes it to the Bicep parameter
 * `durableBackend` (which creates the Durable Task Scheduler, its task hub, the role and the app
 * settings), and `npm run package` (azd's prepackage hook, which sees the same environment) writes
 * the host.json of that backend into the package. The repository's host.json stays the Azure
 * Storage shape, the one the local stack runs.
 *
 * Why the package carries the variant instead of app-setting overrides
 * (`AzureFunctionsJobHost__extensions__durableTask__storageProvider__type`): the runtime honours
 * such overrides, but the durable section of the sync-triggers payload the platform's scale
 * controller reads is taken from the host.json file itself (azure-functions-host PR #8229: "It
 * doesn't include AppSettings"), so an override would run the app on the scheduler while the
 * platform scaled it as Azure Storage. `%…%` substitution is no alternative either: the extension
 * resolves it for `hubName` (which the scheduler variant uses, as Learn's quickstart does), not
 * for `storageProvider.type`. See docs/scale.md.
 */

/** The backends `durableBackend` (Bicep) and `DMF_DURABLE_BACKEND` (azd, package) accept. */
export const DURABLE_BACKENDS = ['azureStorage', 'scheduler'] as const;
/** A Durable Functions backend. */
export type DurableBackend = (typeof DURABLE_BACKENDS)[number];
/** The default backend (Durable Functions' built-in Azure Storage provider). */
export const DEFAULT_DURABLE_BACKEND: DurableBackend = 'azureStorage';
/** The azd environment value (and hook environment variable) that picks the backend. */
export const DURABLE_BACKEND_SETTING = 'DMF_DURABLE_BACKEND';

/**
 * App setting with the scheduler's connection string, named by `storageProvider.connectionStringName`
 * (Learn, "Configure managed identity for Durable Task Scheduler": `Endpoint=…;Authentication=
 * ManagedIdentity;ClientID=…`). infra/modules/functionapp.bicep sets it for `scheduler`.
 */
export const SCHEDULER_CONNECTION_SETTING = 'DURABLE_TASK_SCHEDULER_CONNECTION_STRING';
/** App setting with the scheduler's task hub name, read through `hubName: "%TASKHUB_NAME%"`. */
export const SCHEDULER_TASK_HUB_SETTING = 'TASKHUB_NAME';
/**
 * `storageProvider.type` of the Durable Task Scheduler in the Durable extension (Learn quickstart
 * "Configure a Durable Functions app to use Durable Task Scheduler"; the extension's scale provider
 * compares against `azureManaged`).
 */
export const SCHEDULER_PROVIDER_TYPE = 'azureManaged';
/**
 * Lowest extension bundle with the scheduler's extension (Microsoft.Azure.WebJobs.Extensions.
 * DurableTask.AzureManaged) for non-.NET apps (Learn quickstart: "version 4.32.0 or later, which
 * includes Durable Task Scheduler support").
 */
export const SCHEDULER_MIN_BUNDLE = '4.32.0';

/** Thrown for a `DMF_DURABLE_BACKEND` value that is not a backend, or a host.json we cannot adapt. */
export class DurableBackendError extends Error {}

/** The backend named by `DMF_DURABLE_BACKEND` in `env` (unset or empty: the default). */
export function resolveDurableBackend(env: Readonly<Record<string, string | undefined>>): DurableBackend {
  const raw = env[DURABLE_BACKEND_SETTING]?.trim();
  if (!raw) return DEFAULT_DURABLE_BACKEND;
  const found = DURABLE_BACKENDS.find((b) => b === raw);
  if (!found)
    throw new DurableBackendError(
      `${DURABLE_BACKEND_SETTING} must be one of ${DURABLE_BACKENDS.join(', ')}; got "${raw.slice(0, 40)}"`,
    );
  return found;
}

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * host.json for `backend`, derived from the repository's host.json (the Azure Storage shape).
 * `azureStorage`: returned unchanged. `scheduler`: `storageProvider` becomes the scheduler's
 * (every Azure Storage setting — partitions, queue polling — goes with the old one), `hubName`
 * comes from `TASKHUB_NAME`, entity concurrency gets its own limit (the setting applies only to
 * the scheduler), extended sessions are dropped (the scheduler does not offer them) and the
 * extension bundle starts at {@link SCHEDULER_MIN_BUNDLE}. The input is not modified.
 */
export function hostJsonFor(backend: DurableBackend, hostJson: unknown): Json {
  if (!isRecord(hostJson)) throw new DurableBackendError('host.json is not a JSON object');
  const out = structuredClone(hostJson);
  if (backend === 'azureStorage') return out;
  const extensions = out.extensions;
  const durable = isRecord(extensions) ? extensions.durableTask : undefined;
  if (!isRecord(extensions) || !isRecord(durable))
    throw new DurableBackendError('host.json has no extensions.durableTask section to adapt');
  const bundle = out.extensionBundle;
  if (!isRecord(bundle) || typeof bundle.version !== 'string' || !/^\[4\./.test(bundle.version))
    throw new DurableBackendError('host.json extensionBundle.version must be a 4.x range');
  // Azure Storage only: partitions and queue polling live in the old storageProvider; the
  // scheduler has no extended sessions (Learn, "Durable Task Scheduler": feature parity).
  const rest: Json = { ...durable };
  for (const key of ['storageProvider', 'extendedSessionsEnabled', 'extendedSessionIdleTimeoutInSeconds'])
    delete rest[key];
  extensions.durableTask = {
    ...rest,
    hubName: `%${SCHEDULER_TASK_HUB_SETTING}%`,
    storageProvider: {
      type: SCHEDULER_PROVIDER_TYPE,
      connectionStringName: SCHEDULER_CONNECTION_SETTING,
    },
    ...(typeof rest.maxConcurrentOrchestratorFunctions === 'number'
      ? { maxConcurrentEntityFunctions: rest.maxConcurrentOrchestratorFunctions }
      : {}),
  };
  bundle.version = `[${SCHEDULER_MIN_BUNDLE}, 5.0.0)`;
  return out;
}

/**
 * The host.json file content the package ships for `backend`: the repository's text unchanged for
 * `azureStorage` (byte for byte), the adapted JSON for `scheduler`.
 */
export function hostJsonTextFor(backend: DurableBackend, repositoryText: string): string {
  if (backend === 'azureStorage') return repositoryText;
  return `${JSON.stringify(hostJsonFor(backend, JSON.parse(repositoryText) as unknown), null, 2)}\n`;
}
