/**
 * Loading the configuration: THE one module that reads `process.env`. Everything else receives
 * an {@link AppConfig}. Every problem is reported at once, each with the path of its key.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from '../errors.js';
import {
  DmfConfigSchema,
  SETTING_NAME_PATTERN,
  type AlertConfig,
  type ChainConfig,
  type DataProjectConfig,
  type DmfConfig,
  type EnvironmentAuthConfig,
  type EnvironmentConfig,
  type RecurringActivityConfig,
} from './schema.js';
import {
  DEFAULT_JOB_INDEX_DAYS,
  DEFAULT_NAMES,
  DEFAULT_PURGE_AFTER_DAYS,
  MAX_PURGE_AFTER_DAYS,
  SETTING_NAMES,
} from './settings.js';

/** How the app reaches its storage account. */
export type StorageConnection =
  | {
      kind: 'connectionString';
      /** The connection string (a secret: never log it). */
      connectionString: string;
    }
  | {
      kind: 'identity';
      /** e.g. `https://contoso.blob.core.windows.net`. */
      blobServiceUri: string;
      /** e.g. `https://contoso.table.core.windows.net` (the job index). */
      tableServiceUri: string;
      accountName?: string;
      /** `managedidentity` when set so. */
      credential?: string;
      /** User-assigned identity client id. */
      clientId?: string;
    };

/** Storage settings, defaults applied. */
export interface StorageConfig {
  connection: StorageConnection;
  containers: {
    inbound: string;
    archive: string;
    results: string;
    outbound: string;
    recurringInbound: string;
    templates: string;
  };
  /** The job index's tables (see src/shared/storage/jobIndex.ts). */
  tables: { jobs: string; jobIds: string };
  /** Containers a caller may name as the source of an import (`DMF_SOURCE_CONTAINERS`). */
  sourceContainers: string[];
}

/** How the app reaches Service Bus. */
export type ServiceBusConnection =
  | {
      kind: 'connectionString';
      /** The connection string (a secret: never log it). */
      connectionString: string;
    }
  | {
      kind: 'identity';
      /** e.g. `contoso.servicebus.windows.net`. */
      fullyQualifiedNamespace: string;
      credential?: string;
      clientId?: string;
    };

/** Service Bus settings, defaults applied. */
export interface ServiceBusConfig {
  connection: ServiceBusConnection;
  commandsQueue: string;
  eventsTopic: string;
}

/** The whole, validated, fully defaulted configuration of the app. */
export interface AppConfig {
  environments: readonly EnvironmentConfig[];
  dataProjects: readonly DataProjectConfig[];
  recurringActivities: readonly RecurringActivityConfig[];
  /** Webhooks told about finished jobs (`alerts`). */
  alerts: readonly AlertConfig[];
  /** Ordered chains of import projects (see docs/batches.md). */
  chains: readonly ChainConfig[];
  storage: StorageConfig;
  serviceBus: ServiceBusConfig;
  /** Days the durable history of finished jobs is kept (DMF_PURGE_AFTER_DAYS); 0: forever. */
  purgeAfterDays: number;
  /** Days a job stays in the job index (0: forever). */
  jobIndexDays: number;
  /** Where the JSON came from. */
  configSource:
    { setting: typeof SETTING_NAMES.config } | { setting: typeof SETTING_NAMES.configFile; path: string };
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Reads the DMF_CONFIG_FILE file. Default `fs.readFileSync(path, 'utf8')`. */
  readFile?: (path: string) => string;
  /** Base of a relative DMF_CONFIG_FILE. Default `AzureWebJobsScriptRoot`, else the current directory. */
  baseDir?: string;
  /**
   * Check that every app setting the JSON names (`clientSecretSetting`, …) is set and is not an
   * unresolved Key Vault reference. Default true.
   */
  checkSecretSettings?: boolean;
}

/** App settings as the loader reads them (`process.env` by default). */
export type AppSettingsEnv = Readonly<Record<string, string | undefined>>;
type Env = AppSettingsEnv;
type PathSegment = string | number;

function formatPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

function setting(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

const KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\(/i;

/**
 * Reads the secret held by app setting `settingName` (on Azure typically a Key Vault reference
 * the platform has resolved). Throws `ConfigError` when the setting is unset or still holds an
 * unresolved `@Microsoft.KeyVault(...)` reference (the platform leaves it so when it cannot
 * resolve it: check the app's identity and its access to the vault).
 */
export function resolveSecret(settingName: string, env: Env = process.env): string {
  const problem = secretSettingProblem(env, settingName);
  if (problem) throw new ConfigError([{ path: 'app setting', message: problem }]);
  return env[settingName] as string;
}

// The setting's name is never repeated in these messages: where a name belongs, people sometimes
// paste the secret itself, and a secret that looks like a name would then be printed in the error.
function secretSettingProblem(env: Env, name: string): string | undefined {
  const value = setting(env, name);
  if (value === undefined) {
    return 'names an app setting that is not set (give the NAME of the app setting that holds the secret; if the secret itself is written here, remove it from the configuration and rotate it)';
  }
  if (KEY_VAULT_REFERENCE.test(value.trim())) {
    return "names an app setting that holds an unresolved Key Vault reference: grant the app's identity read access to the secret (and check the reference)";
  }
  return undefined;
}

/** Key names that hold a secret inline, and the key that should be used instead. */
const INLINE_SECRET_KEYS: Readonly<Record<string, string>> = {
  clientsecret: 'clientSecretSetting',
  secret: 'clientSecretSetting',
  password: 'clientSecretSetting',
  certificate: 'certificateSetting',
  certificatepem: 'certificateSetting',
  privatekey: 'certificateSetting',
  pfx: 'certificateSetting',
  clientassertion: 'clientSecretSetting',
  accesstoken: 'an app setting',
  token: 'an app setting',
  connectionstring: 'an app setting',
  accountkey: 'an app setting',
  sharedaccesskey: 'an app setting',
};

/** Finds inline secrets in the raw JSON; returns issues and the keys found (to silence "unknown key"). */
function findInlineSecrets(raw: unknown, prefix: string): { issues: ConfigIssue[]; keys: Set<string> } {
  const issues: ConfigIssue[] = [];
  const keys = new Set<string>();
  const walk = (value: unknown, path: PathSegment[]): void => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, i]));
      return;
    }
    if (typeof value === 'string') {
      if (value.includes('-----BEGIN')) {
        issues.push({
          path: formatPath(prefix, path),
          message:
            'looks like a PEM certificate or key: put it in an app setting and give its name in "certificateSetting"',
        });
      }
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [key, item] of Object.entries(value)) {
      const instead = INLINE_SECRET_KEYS[key.toLowerCase()];
      if (instead !== undefined) {
        keys.add(formatPath(prefix, [...path, key]));
        issues.push({
          path: formatPath(prefix, [...path, key]),
          message: `secrets must not be written in the configuration: put the secret in an app setting (on Azure a Key Vault reference "@Microsoft.KeyVault(SecretUri=…)") and give that setting's NAME in ${instead.startsWith('an ') ? instead : `"${instead}"`}`,
        });
      } else walk(item, [...path, key]);
    }
  };
  walk(raw, []);
  return { issues, keys };
}

function zodIssues(error: z.ZodError, prefix: string, silenced: Set<string>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = formatPath(prefix, [...issue.path, key]);
        if (!silenced.has(path)) issues.push({ path, message: 'unknown key' });
      }
    } else {
      issues.push({ path: formatPath(prefix, issue.path), message: issue.message });
    }
  }
  return issues;
}

type Raw = Record<string, unknown>;
const asArray = (v: unknown): Raw[] =>
  Array.isArray(v) ? v.map((x) => (x !== null && typeof x === 'object' ? (x as Raw) : {})) : [];
const asString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Cross-reference checks, run on the raw JSON so they are reported together with schema errors. */
function crossCheck(raw: unknown, prefix: string, env: Env, checkSecrets: boolean): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const add = (path: PathSegment[], message: string): void => {
    issues.push({ path: formatPath(prefix, path), message });
  };
  const root = raw !== null && typeof raw === 'object' ? (raw as Raw) : {};
  const environments = asArray(root.environments);
  const envByName = new Map<string, Raw>();
  environments.forEach((e, i) => {
    const name = asString(e.name);
    if (name === undefined) return;
    if (envByName.has(name)) add(['environments', i, 'name'], `duplicate environment name "${name}"`);
    else envByName.set(name, e);
    const auth = e.auth !== null && typeof e.auth === 'object' ? (e.auth as Raw) : {};
    const kind = asString(auth.kind);
    if (kind === 'adfs' && e.onPremises !== true) {
      add(
        ['environments', i, 'onPremises'],
        'AD FS authentication is for on-premises environments: set onPremises to true',
      );
    }
    if (e.onPremises === true && kind !== undefined && kind !== 'adfs') {
      add(
        ['environments', i, 'auth', 'kind'],
        'on-premises environments authenticate with AD FS: use kind "adfs"',
      );
    }
    if (checkSecrets) {
      for (const key of ['clientSecretSetting', 'certificateSetting', 'certificatePathSetting'] as const) {
        const settingName = asString(auth[key]);
        // an invalid name is reported by the schema; never echo it (it may be the secret itself)
        if (settingName === undefined || !SETTING_NAME_PATTERN.test(settingName)) continue;
        const problem = secretSettingProblem(env, settingName);
        if (problem) add(['environments', i, 'auth', key], problem);
      }
    }
  });

  const projectNames = new Set<string>();
  asArray(root.dataProjects).forEach((p, i) => {
    const name = asString(p.name);
    if (name !== undefined) {
      if (projectNames.has(name)) add(['dataProjects', i, 'name'], `duplicate data project name "${name}"`);
      projectNames.add(name);
    }
    const envName = asString(p.environment);
    const target = envName === undefined ? undefined : envByName.get(envName);
    if (envName !== undefined && !target) {
      add(['dataProjects', i, 'environment'], `no environment is named "${envName}"`);
    }
    if (
      target &&
      asString(p.legalEntity) === undefined &&
      asString(target.defaultLegalEntity) === undefined
    ) {
      add(
        ['dataProjects', i, 'legalEntity'],
        `required: neither the data project nor environment "${envName}" (defaultLegalEntity) names a legal entity`,
      );
    }
    if (p.direction === 'export' && p.template !== undefined) {
      add(['dataProjects', i, 'template'], 'templates apply to imports only');
    }
    if (p.entities !== undefined) {
      if (p.direction === 'export')
        add(['dataProjects', i, 'entities'], 'entity files apply to imports only');
      else if (p.template === undefined) {
        add(['dataProjects', i, 'entities'], 'needs a "template": the raw files fill its entities');
      }
      const labels = new Set<string>();
      asArray(p.entities).forEach((e, j) => {
        const label = asString(e.entity)?.trim().toLowerCase();
        if (label === undefined) return;
        if (labels.has(label)) add(['dataProjects', i, 'entities', j, 'entity'], 'names an entity twice');
        labels.add(label);
      });
    }
    if (p.batch !== undefined && p.entities === undefined) {
      add(['dataProjects', i, 'batch'], 'needs "entities": which files of a batch fill which entity');
    }
    if (p.legalEntities !== undefined) {
      if (p.direction !== 'export') add(['dataProjects', i, 'legalEntities'], 'applies to exports only');
      const seen = new Set<string>();
      (Array.isArray(p.legalEntities) ? (p.legalEntities as unknown[]) : []).forEach((value, j) => {
        const le = asString(value)?.toUpperCase();
        if (le === undefined) return;
        if (seen.has(le)) add(['dataProjects', i, 'legalEntities', j], `names legal entity "${le}" twice`);
        seen.add(le);
      });
    }
  });

  const projectsByName = new Map(
    asArray(root.dataProjects).flatMap((p) => {
      const projectName = asString(p.name);
      return projectName === undefined ? [] : [[projectName, p] as const];
    }),
  );
  const chainNames = new Set<string>();
  asArray(root.chains).forEach((c, i) => {
    const chainName = asString(c.name);
    if (chainName !== undefined) {
      if (chainNames.has(chainName)) add(['chains', i, 'name'], `duplicate chain name "${chainName}"`);
      chainNames.add(chainName);
    }
    const envName = asString(c.environment);
    if (envName !== undefined && !envByName.has(envName)) {
      add(['chains', i, 'environment'], `no environment is named "${envName}"`);
    }
    const listed = new Set<string>();
    (Array.isArray(c.projects) ? (c.projects as unknown[]) : []).forEach((value, j) => {
      const projectName = asString(value);
      if (projectName === undefined) return;
      if (listed.has(projectName)) add(['chains', i, 'projects', j], `names project "${projectName}" twice`);
      listed.add(projectName);
      const project = projectsByName.get(projectName);
      if (!project) add(['chains', i, 'projects', j], `no data project is named "${projectName}"`);
      else if (project.direction !== 'import' || asString(project.environment) !== envName) {
        add(
          ['chains', i, 'projects', j],
          `"${projectName}" is not an import project of environment "${envName ?? ''}"`,
        );
      } else if (project.entities === undefined) {
        add(
          ['chains', i, 'projects', j],
          `"${projectName}" has no "entities": a chain hands each project the batch files its entities name`,
        );
      }
    });
  });

  const activityIds = new Set<string>();
  asArray(root.recurringActivities).forEach((a, i) => {
    const id = asString(a.id)?.trim().replace(/[{}]/g, '').toLowerCase();
    if (id !== undefined) {
      if (activityIds.has(id))
        add(['recurringActivities', i, 'id'], `duplicate recurring activity id "${id}"`);
      activityIds.add(id);
    }
    const envName = asString(a.environment);
    const target = envName === undefined ? undefined : envByName.get(envName);
    if (envName !== undefined && !target) {
      add(['recurringActivities', i, 'environment'], `no environment is named "${envName}"`);
    } else if (target?.onPremises === true) {
      add(
        ['recurringActivities', i, 'environment'],
        `environment "${envName}" is on-premises, where the recurring integration API does not exist`,
      );
    }
    if (a.direction === 'export' && a.schedule === undefined) {
      add(['recurringActivities', i, 'schedule'], 'required for export activities (when to dequeue)');
    }
  });

  const alertNames = new Set<string>();
  asArray(root.alerts).forEach((a, i) => {
    const name = asString(a.name);
    if (name !== undefined) {
      if (alertNames.has(name)) add(['alerts', i, 'name'], `duplicate alert name "${name}"`);
      alertNames.add(name);
    }
    if (Array.isArray(a.environments)) {
      a.environments.forEach((e, j) => {
        if (typeof e === 'string' && !envByName.has(e))
          add(['alerts', i, 'environments', j], `no environment is named "${e}"`);
      });
    }
    const settingName = asString(a.urlSetting);
    if (!checkSecrets || settingName === undefined || !SETTING_NAME_PATTERN.test(settingName)) return;
    const problem = secretSettingProblem(env, settingName) ?? webhookUrlProblem(env[settingName] ?? '');
    if (problem) add(['alerts', i, 'urlSetting'], problem);
  });
  return issues;
}

/**
 * Why the value of an alert's url setting is no webhook url (the value is a secret: never echoed).
 * https, or http to a loopback host (a local receiver in tests and development).
 */
export function webhookUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return 'names an app setting that does not hold a url (give the webhook url, https://…)';
  }
  if (url.username !== '' || url.password !== '')
    return 'names an app setting whose url carries a user name or password';
  if (url.protocol === 'https:') return undefined;
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && loopback) return undefined;
  return 'names an app setting whose url is not https (http is accepted only for a loopback host)';
}

const TABLE_NAME = /^[A-Za-z][A-Za-z0-9]{2,62}$/;
/** A blob container name as Azure Storage accepts it: 3-63 lower-case letters, digits and single hyphens. */
export const CONTAINER_NAME_PATTERN = /^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$/;
const ENTITY_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._/-]{0,258}[A-Za-z0-9_])?$/;

function readStorage(env: Env, issues: ConfigIssue[]): StorageConnection {
  const connectionString = setting(env, SETTING_NAMES.storage);
  if (connectionString !== undefined) return { kind: 'connectionString', connectionString };
  const credential = setting(env, SETTING_NAMES.storageCredential);
  const clientId = setting(env, SETTING_NAMES.storageClientId);
  const extra = { ...(credential ? { credential } : {}), ...(clientId ? { clientId } : {}) };
  const uri = setting(env, SETTING_NAMES.storageBlobServiceUri);
  const accountName = setting(env, SETTING_NAMES.storageAccountName);
  const tableUri = setting(env, SETTING_NAMES.storageTableServiceUri);
  const serviceUri = /^https?:\/\/[^\s/?#]+\/?[^\s?#]*$/;
  if (tableUri !== undefined && !serviceUri.test(tableUri)) {
    issues.push({
      path: SETTING_NAMES.storageTableServiceUri,
      message: 'must be a URL like https://contoso.table.core.windows.net',
    });
  }
  if (uri !== undefined) {
    if (!serviceUri.test(uri)) {
      issues.push({
        path: SETTING_NAMES.storageBlobServiceUri,
        message: 'must be a URL like https://contoso.blob.core.windows.net',
      });
    }
    const blobServiceUri = uri.replace(/\/+$/, '');
    // the job index lives in the same account: its table endpoint, unless given, is the blob one's
    const derived = accountName
      ? `https://${accountName}.table.core.windows.net`
      : /\.blob\./.test(blobServiceUri)
        ? blobServiceUri.replace('.blob.', '.table.')
        : undefined;
    if (tableUri === undefined && derived === undefined) {
      issues.push({
        path: SETTING_NAMES.storageTableServiceUri,
        message: `not set, and not derivable from ${SETTING_NAMES.storageBlobServiceUri}: give the table service URI (the job index)`,
      });
    }
    return {
      kind: 'identity',
      blobServiceUri,
      tableServiceUri: (tableUri ?? derived ?? '').replace(/\/+$/, ''),
      ...(accountName ? { accountName } : {}),
      ...extra,
    };
  }
  if (accountName !== undefined) {
    if (!/^[a-z0-9]{3,24}$/.test(accountName)) {
      issues.push({
        path: SETTING_NAMES.storageAccountName,
        message: 'must be 3-24 lower-case letters or digits',
      });
    }
    return {
      kind: 'identity',
      blobServiceUri: `https://${accountName}.blob.core.windows.net`,
      tableServiceUri: (tableUri ?? `https://${accountName}.table.core.windows.net`).replace(/\/+$/, ''),
      accountName,
      ...extra,
    };
  }
  issues.push({
    path: SETTING_NAMES.storage,
    message: `not set: give a storage connection string, or ${SETTING_NAMES.storageAccountName} / ${SETTING_NAMES.storageBlobServiceUri} for an identity-based connection`,
  });
  return { kind: 'connectionString', connectionString: '' };
}

function readServiceBus(env: Env, issues: ConfigIssue[]): ServiceBusConnection {
  const connectionString = setting(env, SETTING_NAMES.serviceBus);
  if (connectionString !== undefined) {
    if (!/Endpoint=/i.test(connectionString)) {
      issues.push({
        path: SETTING_NAMES.serviceBus,
        message: 'must be a Service Bus connection string ("Endpoint=sb://…")',
      });
    }
    return { kind: 'connectionString', connectionString };
  }
  const namespace = setting(env, SETTING_NAMES.serviceBusNamespace);
  if (namespace !== undefined) {
    const host = namespace
      .trim()
      .replace(/^sb:\/\//i, '')
      .replace(/\/+$/, '');
    if (!/^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?::\d+)?$/.test(host)) {
      issues.push({
        path: SETTING_NAMES.serviceBusNamespace,
        message: 'must be a host name like contoso.servicebus.windows.net',
      });
    }
    const credential = setting(env, SETTING_NAMES.serviceBusCredential);
    const clientId = setting(env, SETTING_NAMES.serviceBusClientId);
    return {
      kind: 'identity',
      fullyQualifiedNamespace: host,
      ...(credential ? { credential } : {}),
      ...(clientId ? { clientId } : {}),
    };
  }
  issues.push({
    path: SETTING_NAMES.serviceBus,
    message: `not set: give a Service Bus connection string, or ${SETTING_NAMES.serviceBusNamespace} for an identity-based connection`,
  });
  return { kind: 'connectionString', connectionString: '' };
}

function named(
  env: Env,
  settingName: string,
  fallback: string,
  pattern: RegExp,
  what: string,
  issues: ConfigIssue[],
): string {
  const value = setting(env, settingName)?.trim() ?? fallback;
  if (!pattern.test(value))
    issues.push({ path: settingName, message: `"${value}" is not a valid ${what} name` });
  return value;
}

/**
 * Reads `DMF_SOURCE_CONTAINERS` (default: the inbound container). The archive, results and
 * templates containers are refused: taking a file from there would move the app's own records.
 */
function readSourceContainers(
  env: Env,
  containers: StorageConfig['containers'],
  issues: ConfigIssue[],
): string[] {
  const value = setting(env, SETTING_NAMES.sourceContainers);
  if (value === undefined) return [containers.inbound];
  const names = value
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const own: Record<string, string> = {
    [containers.archive]: 'archive',
    [containers.results]: 'results',
    [containers.templates]: 'templates',
  };
  for (const name of names) {
    if (!CONTAINER_NAME_PATTERN.test(name)) {
      issues.push({
        path: SETTING_NAMES.sourceContainers,
        message: `"${name}" is not a valid container name`,
      });
    } else if (own[name] !== undefined) {
      issues.push({
        path: SETTING_NAMES.sourceContainers,
        message: `"${name}" is the ${own[name]} container: imports never take files from it`,
      });
    }
  }
  if (names.length === 0) {
    issues.push({ path: SETTING_NAMES.sourceContainers, message: 'names no container' });
  }
  return [...new Set(names)];
}

/** Reads a whole number of days from an app setting (0 to `max`), its default when unset. */
function days(env: Env, settingName: string, fallback: number, max: number, issues: ConfigIssue[]): number {
  const value = setting(env, settingName)?.trim();
  if (value === undefined) return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) > max) {
    issues.push({ path: settingName, message: `"${value}" is not a whole number of days from 0 to ${max}` });
    return fallback;
  }
  return Number(value);
}

/** Reads the raw JSON text from DMF_CONFIG or DMF_CONFIG_FILE. */
function readConfigText(
  env: Env,
  options: LoadConfigOptions,
  issues: ConfigIssue[],
): { text: string; source: AppConfig['configSource']; prefix: string } | undefined {
  const inline = setting(env, SETTING_NAMES.config);
  const file = setting(env, SETTING_NAMES.configFile);
  if (inline !== undefined && file !== undefined) {
    issues.push({
      path: SETTING_NAMES.config,
      message: `set only one of ${SETTING_NAMES.config} and ${SETTING_NAMES.configFile}`,
    });
    return undefined;
  }
  if (inline !== undefined)
    return { text: inline, source: { setting: SETTING_NAMES.config }, prefix: SETTING_NAMES.config };
  if (file !== undefined) {
    const base = options.baseDir ?? setting(env, 'AzureWebJobsScriptRoot') ?? process.cwd();
    const path = isAbsolute(file) ? file : resolve(base, file);
    try {
      const text = (options.readFile ?? ((p: string) => readFileSync(p, 'utf8')))(path);
      return { text, source: { setting: SETTING_NAMES.configFile, path }, prefix: SETTING_NAMES.configFile };
    } catch (error) {
      issues.push({
        path: SETTING_NAMES.configFile,
        message: `cannot read ${path}: ${(error as Error).message}`,
      });
      return undefined;
    }
  }
  issues.push({
    path: SETTING_NAMES.config,
    message: `not set: give the configuration JSON in ${SETTING_NAMES.config}, or the path of a JSON file in ${SETTING_NAMES.configFile}`,
  });
  return undefined;
}

/**
 * Loads and validates the whole configuration from app settings: the `DMF_CONFIG` JSON (or the
 * file named by `DMF_CONFIG_FILE`), storage and Service Bus connections, container/queue/topic
 * names. Returns a fully defaulted {@link AppConfig}; throws one `ConfigError` listing every
 * problem with its path (e.g. `DMF_CONFIG.environments[0].auth.clientId`, `AzureWebJobsStorage`).
 */
export function loadConfig(env: Env = process.env, options: LoadConfigOptions = {}): AppConfig {
  const issues: ConfigIssue[] = [];
  const storageConnection = readStorage(env, issues);
  const serviceBusConnection = readServiceBus(env, issues);
  const containers = {
    inbound: named(
      env,
      SETTING_NAMES.inboundContainer,
      DEFAULT_NAMES.inboundContainer,
      CONTAINER_NAME_PATTERN,
      'container',
      issues,
    ),
    archive: named(
      env,
      SETTING_NAMES.archiveContainer,
      DEFAULT_NAMES.archiveContainer,
      CONTAINER_NAME_PATTERN,
      'container',
      issues,
    ),
    results: named(
      env,
      SETTING_NAMES.resultsContainer,
      DEFAULT_NAMES.resultsContainer,
      CONTAINER_NAME_PATTERN,
      'container',
      issues,
    ),
    outbound: named(
      env,
      SETTING_NAMES.outboundContainer,
      DEFAULT_NAMES.outboundContainer,
      CONTAINER_NAME_PATTERN,
      'container',
      issues,
    ),
    recurringInbound: named(
      env,
      SETTING_NAMES.recurringInboundContainer,
      DEFAULT_NAMES.recurringInboundContainer,
      CONTAINER_NAME_PATTERN,
      'container',
      issues,
    ),
    templates: named(
      env,
      SETTING_NAMES.templatesContainer,
      DEFAULT_NAMES.templatesContainer,
      CONTAINER_NAME_PATTERN,
      'container',
      issues,
    ),
  };
  const tables = {
    jobs: named(env, SETTING_NAMES.jobsTable, DEFAULT_NAMES.jobsTable, TABLE_NAME, 'table', issues),
    jobIds: named(env, SETTING_NAMES.jobIdsTable, DEFAULT_NAMES.jobIdsTable, TABLE_NAME, 'table', issues),
  };
  if (tables.jobs.toLowerCase() === tables.jobIds.toLowerCase()) {
    issues.push({ path: SETTING_NAMES.jobIdsTable, message: `must differ from ${SETTING_NAMES.jobsTable}` });
  }
  const sourceContainers = readSourceContainers(env, containers, issues);
  const commandsQueue = named(
    env,
    SETTING_NAMES.commandsQueue,
    DEFAULT_NAMES.commandsQueue,
    ENTITY_NAME,
    'queue',
    issues,
  );
  const eventsTopic = named(
    env,
    SETTING_NAMES.eventsTopic,
    DEFAULT_NAMES.eventsTopic,
    ENTITY_NAME,
    'topic',
    issues,
  );

  const purgeAfterDays = days(
    env,
    SETTING_NAMES.purgeAfterDays,
    DEFAULT_PURGE_AFTER_DAYS,
    MAX_PURGE_AFTER_DAYS,
    issues,
  );

  const jobIndexDays = days(
    env,
    SETTING_NAMES.jobIndexDays,
    DEFAULT_JOB_INDEX_DAYS,
    MAX_PURGE_AFTER_DAYS,
    issues,
  );

  const read = readConfigText(env, options, issues);
  let parsed: DmfConfig | undefined;
  if (read) {
    let raw: unknown;
    let jsonOk = true;
    try {
      raw = JSON.parse(read.text.replace(/^\uFEFF/, ''));
    } catch (error) {
      jsonOk = false;
      issues.push({ path: read.prefix, message: `not valid JSON: ${(error as Error).message}` });
    }
    if (jsonOk) {
      const secrets = findInlineSecrets(raw, read.prefix);
      issues.push(...secrets.issues);
      const result = DmfConfigSchema.safeParse(raw);
      if (result.success) parsed = result.data;
      else issues.push(...zodIssues(result.error, read.prefix, secrets.keys));
      issues.push(...crossCheck(raw, read.prefix, env, options.checkSecretSettings ?? true));
    }
  }

  if (issues.length > 0 || !parsed || !read) throw new ConfigError(dedupe(issues));

  const envByName = new Map(parsed.environments.map((e) => [e.name, e] as const));
  const dataProjects: DataProjectConfig[] = parsed.dataProjects.map((p) => ({
    ...p,
    legalEntity: p.legalEntity ?? envByName.get(p.environment)?.defaultLegalEntity ?? '',
    packageName: p.packageName ?? p.name,
  }));
  return {
    environments: parsed.environments,
    dataProjects,
    recurringActivities: parsed.recurringActivities,
    alerts: parsed.alerts,
    chains: parsed.chains,
    storage: { connection: storageConnection, containers, sourceContainers, tables },
    serviceBus: { connection: serviceBusConnection, commandsQueue, eventsTopic },
    purgeAfterDays,
    jobIndexDays,
    configSource: read.source,
  };
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** One app setting named inside the configuration JSON. */
export interface ReferencedSetting {
  /** The app setting name. */
  name: string;
  /** Where it is named, e.g. `environments[0].auth.clientSecretSetting`. */
  path: string;
  /** True when it holds a secret (it always does today; a path setting holds a file path). */
  secret: boolean;
}

/** Lists the app settings the configuration names (for infra cross-checks and startup checks). */
export function referencedSettings(
  config: Pick<AppConfig, 'environments'> & Partial<Pick<AppConfig, 'alerts'>>,
): ReferencedSetting[] {
  const out: ReferencedSetting[] = [];
  config.environments.forEach((e, i) => {
    const auth: EnvironmentAuthConfig = e.auth;
    const add = (key: string, name: string | undefined, secret: boolean): void => {
      if (name !== undefined)
        out.push({ name, path: formatPath('', ['environments', i, 'auth', key]).slice(1), secret });
    };
    if (auth.kind === 'clientSecret' || auth.kind === 'adfs')
      add('clientSecretSetting', auth.clientSecretSetting, true);
    if (auth.kind === 'clientCertificate') {
      add('certificateSetting', auth.certificateSetting, true);
      add('certificatePathSetting', auth.certificatePathSetting, false);
    }
  });
  config.alerts?.forEach((a, i) => {
    out.push({ name: a.urlSetting, path: `alerts[${i}].urlSetting`, secret: true });
  });
  return out;
}

/** The environment named `name`; throws `ConfigError` when there is none. */
export function getEnvironment(config: Pick<AppConfig, 'environments'>, name: string): EnvironmentConfig {
  const found = config.environments.find((e) => e.name === name);
  if (!found) throw new ConfigError([{ path: 'environment', message: `no environment is named "${name}"` }]);
  return found;
}

/** The data project named `name`; throws `ConfigError` when there is none. */
export function getDataProject(config: Pick<AppConfig, 'dataProjects'>, name: string): DataProjectConfig {
  const found = config.dataProjects.find((p) => p.name === name);
  if (!found) throw new ConfigError([{ path: 'dataProject', message: `no data project is named "${name}"` }]);
  return found;
}
