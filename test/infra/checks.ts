/**
 * Cross-checks between infra/ (Bicep, read with ./bicep.ts) and what the app needs, as pure
 * functions returning problems (empty = fine), so each can be shown to fail on a small snippet.
 * Everything the app needs is taken from the app's own exports (APP_SETTINGS, SETTING_NAMES,
 * DEFAULT_NAMES, the auth schema, the functions it registers), never from a copied list.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { z } from 'zod';
import type { AppSettingInfo } from '../../src/shared/config/index.js';
import {
  DEFAULT_DURABLE_BACKEND,
  DURABLE_BACKENDS,
  DURABLE_BACKEND_SETTING,
  SCHEDULER_CONNECTION_SETTING,
  SCHEDULER_MIN_BUNDLE,
  SCHEDULER_PROVIDER_TYPE,
  type DurableBackend,
} from '../../scripts/durable-backend.js';
import {
  isExpr,
  isObject,
  mentions,
  objectLiterals,
  parseBicep,
  textOf,
  valueAt,
  type BicepDeclaration,
  type BicepObject,
  type BicepValue,
} from './bicep.js';

/** Built-in Azure role definition ids (the same in every tenant). */
export const BUILT_IN_ROLES = {
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  'Azure Service Bus Data Sender': '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39',
  'Azure Service Bus Data Receiver': '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0',
  'Azure Service Bus Data Owner': '090c5cfd-751d-490a-894a-3ce6f1109419',
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  // Learn "Configure managed identity for Durable Task Scheduler"; the id as the official
  // Azure-Samples/Durable-Task-Scheduler templates grant it.
  'Durable Task Data Contributor': '0ad04412-c4d5-4796-b79c-f76d14c8d402',
} as const;
/** A role name of {@link BUILT_IN_ROLES}. */
export type RoleName = keyof typeof BUILT_IN_ROLES;

/** Roles each kind of identity-based connection needs, and the resource type they are scoped to. */
export const CONNECTION_ROLES: Record<
  'storage' | 'serviceBus' | 'keyVaultReference' | 'appInsights',
  { roles: RoleName[]; scopeType: string }
> = {
  // Blob (leases, receipts, containers, deployment package), queue (Durable Functions) and table
  // (Durable Functions on Azure Storage, and the app's job index with either durable backend).
  storage: {
    roles: ['Storage Blob Data Owner', 'Storage Queue Data Contributor', 'Storage Table Data Contributor'],
    scopeType: 'Microsoft.Storage/storageAccounts',
  },
  // Sending events and commands. Receiving is per trigger: see checkServiceBusTriggerRoles.
  serviceBus: {
    roles: ['Azure Service Bus Data Sender'],
    scopeType: 'Microsoft.ServiceBus/namespaces',
  },
  keyVaultReference: { roles: ['Key Vault Secrets User'], scopeType: 'Microsoft.KeyVault/vaults' },
  appInsights: { roles: ['Monitoring Metrics Publisher'], scopeType: 'Microsoft.Insights/components' },
};

/** infra/user-settings.json: what users provide themselves, and how. */
export const UserSettingsSchema = z.strictObject({
  $comment: z.string().optional(),
  /** App settings the Bicep does not set and users must (name → how). */
  settings: z.record(z.string(), z.string()),
  /** Keys of the config JSON's `auth` objects that name an app setting (key → how it is supplied). */
  referencedSettingKeys: z.record(z.string(), z.string()),
});
/** Parsed infra/user-settings.json. */
export type UserSettings = z.infer<typeof UserSettingsSchema>;

/** Parsed Bicep files of a folder, by path relative to it (`main.bicep`, `modules/storage.bicep`). */
export type BicepFiles = ReadonlyMap<string, readonly BicepDeclaration[]>;

/** Reads and parses every `.bicep` file under `dir`. */
export function loadBicepFiles(dir: string): Map<string, BicepDeclaration[]> {
  const out = new Map<string, BicepDeclaration[]>();
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.bicep')) {
        const path = relative(dir, full).split('\\').join('/');
        try {
          out.set(path, parseBicep(readFileSync(full, 'utf8')));
        } catch (error) {
          throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
        }
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

function declarations(
  files: BicepFiles,
  kind: BicepDeclaration['kind'],
): Array<BicepDeclaration & { file: string }> {
  return [...files].flatMap(([file, decls]) =>
    decls.filter((d) => d.kind === kind).map((d) => ({ ...d, file })),
  );
}

function find(
  decls: readonly BicepDeclaration[],
  kind: BicepDeclaration['kind'],
  name: string,
): BicepDeclaration | undefined {
  return decls.find((d) => d.kind === kind && d.name === name);
}

/** Resources of `type` across all files (existing ones excluded unless asked). */
export function resourcesOfType(
  files: BicepFiles,
  type: string,
  options: { existing?: boolean } = {},
): Array<BicepDeclaration & { file: string }> {
  return declarations(files, 'resource').filter(
    (r) => r.type?.toLowerCase() === type.toLowerCase() && (options.existing === true || r.existing !== true),
  );
}

/** The app settings a Function App module sets: name → value (literal or expression). */
export interface AppSettingsFound {
  /** File that sets them. */
  file: string;
  settings: Map<string, BicepValue>;
  /** Text of setting sources whose keys are computed (e.g. `toObject(…)` of Key Vault references). */
  computed: string[];
  /** Symbol of the site resource. */
  siteSymbol: string;
  /**
   * Settings that come from one branch of a `param == 'value' ? {…} : {…}` var: set only when
   * `param` equals `value` (`when: true`) or differs from it (`when: false`).
   */
  conditions?: Map<string, SettingCondition>;
}

/** When a setting of a conditional `*Settings` var applies (see {@link AppSettingsFound}). */
export interface SettingCondition {
  param: string;
  value: string;
  when: boolean;
}

/** `param == 'value' ? {…} : {…}`: the param and value of such an expression. */
const PARAM_EQUALS = /^([A-Za-z_][A-Za-z0-9_]*)\s*==\s*'([^']*)'\s*\?/;

/**
 * Finds the Function App (`Microsoft.Web/sites`, kind containing `functionapp`) and the app
 * settings it gets: `siteConfig.appSettings` entries and/or a `Microsoft.Web/sites/config`
 * `appsettings` resource whose `properties` is an object or an expression over `*Settings` vars
 * (their object literals' keys count; `param` objects are user-supplied and do not).
 */
export function findAppSettings(files: BicepFiles): { found?: AppSettingsFound; problems: string[] } {
  const sites = resourcesOfType(files, 'Microsoft.Web/sites').filter((s) =>
    textOf(valueAt(s.value, 'kind')).includes('functionapp'),
  );
  if (sites.length !== 1) {
    return {
      problems: [
        `expected exactly one Function App (Microsoft.Web/sites, kind functionapp…), found ${sites.length}`,
      ],
    };
  }
  const site = sites[0] as BicepDeclaration & { file: string };
  const decls = files.get(site.file) ?? [];
  const settings = new Map<string, BicepValue>();
  const computed: string[] = [];
  const conditions = new Map<string, SettingCondition>();
  const inline = valueAt(site.value, 'properties.siteConfig.appSettings');
  if (Array.isArray(inline)) {
    for (const entry of inline) {
      const name = valueAt(entry, 'name');
      if (typeof name === 'string') settings.set(name, valueAt(entry, 'value') ?? null);
    }
  }
  const configs = resourcesOfType(files, 'Microsoft.Web/sites/config').filter(
    (c) => c.file === site.file && valueAt(c.value, 'name') === 'appsettings',
  );
  for (const config of configs) {
    const props = valueAt(config.value, 'properties');
    const sources: BicepObject[] = [...objectLiterals(props)];
    const propsText = textOf(props);
    for (const v of decls.filter((d) => d.kind === 'var' && d.name.endsWith('Settings'))) {
      if (!mentions(propsText, v.name)) continue;
      const literals = objectLiterals(v.value);
      const branch = PARAM_EQUALS.exec(textOf(v.value));
      if (branch?.[1] !== undefined && branch[2] !== undefined && isExpr(v.value) && literals.length === 2)
        literals.forEach((literal, i) => {
          for (const key of Object.keys(literal))
            conditions.set(key, { param: branch[1] as string, value: branch[2] as string, when: i === 0 });
        });
      if (literals.length > 0) sources.push(...literals);
      else computed.push(textOf(v.value));
    }
    for (const source of sources) for (const [k, v] of Object.entries(source)) settings.set(k, v);
  }
  if (settings.size === 0) return { problems: [`${site.file}: the Function App gets no app settings`] };
  return {
    found: { file: site.file, settings, computed, siteSymbol: site.name, conditions },
    problems: [],
  };
}

/** The app settings set when `param` has `value` (settings of the other branches left out). */
export function settingsWhen(found: AppSettingsFound, param: string, value: string): Map<string, BicepValue> {
  const out = new Map<string, BicepValue>();
  for (const [name, v] of found.settings) {
    const c = found.conditions?.get(name);
    if (c && c.param === param && (c.value === value) !== c.when) continue;
    out.set(name, v);
  }
  return out;
}

/** The requirement groups of APP_SETTINGS: each is met by any one of its names. */
export function requiredSettingGroups(catalog: readonly AppSettingInfo[]): string[][] {
  const groups = new Map<string, string[]>();
  for (const s of catalog.filter((x) => x.required)) {
    const group = [s.name, ...(s.oneOf ?? [])].sort();
    groups.set(group.join('|'), group);
  }
  return [...groups.values()];
}

/** Every required app setting (group) is set by the Bicep or documented as user-provided. */
export function checkRequiredSettings(
  catalog: readonly AppSettingInfo[],
  bicepSettings: ReadonlySet<string>,
  userSettings: ReadonlySet<string>,
): string[] {
  return requiredSettingGroups(catalog)
    .filter((group) => !group.some((n) => bicepSettings.has(n) || userSettings.has(n)))
    .map(
      (group) =>
        `required app setting ${group.join(' | ')} is neither set in the Bicep app settings nor listed in infra/user-settings.json "settings"`,
    );
}

/** Keys of the auth variants (from the app's zod schema) that name an app setting (`…Setting`). */
export function settingKeysOfAuthSchema(schema: z.ZodType): string[] {
  const keys = new Set<string>();
  const visit = (s: unknown): void => {
    const def = (s as { def?: { type?: string; options?: unknown[]; shape?: Record<string, unknown> } }).def;
    if (!def) return;
    if (def.options) def.options.forEach(visit);
    if (def.shape) for (const k of Object.keys(def.shape)) if (/Setting$/.test(k)) keys.add(k);
  };
  visit(schema);
  return [...keys].sort();
}

/** Every `…Setting` key of the config schema says, in user-settings.json, how it is supplied. */
export function checkReferencedSettingKeys(
  keys: readonly string[],
  documented: Readonly<Record<string, string>>,
): string[] {
  const problems: string[] = [];
  if (keys.length === 0)
    problems.push('the auth schema names no `…Setting` key: is settingKeysOfAuthSchema still right?');
  for (const k of keys) {
    if (!documented[k]?.trim())
      problems.push(
        `config key "${k}" names an app setting; infra/user-settings.json "referencedSettingKeys" must say how it is supplied on Azure`,
      );
  }
  return problems;
}

/** A name the app uses: blob container, Service Bus queue or topic. */
export interface UsedName {
  kind: 'container' | 'table' | 'queue' | 'topic';
  name: string;
  /** Where the app takes it from, e.g. `DMF_INBOUND_CONTAINER (default)`. */
  source: string;
}

/**
 * The container/table/queue/topic names the app uses with these settings: DEFAULT_NAMES entries,
 * kind from the key suffix, overridden by the app setting of the same key in SETTING_NAMES.
 */
export function usedNames(
  defaults: Readonly<Record<string, string>>,
  settingNames: Readonly<Record<string, string>>,
  settings: ReadonlyMap<string, BicepValue>,
): { names: UsedName[]; problems: string[] } {
  const names: UsedName[] = [];
  const problems: string[] = [];
  for (const [key, fallback] of Object.entries(defaults)) {
    const kind = key.endsWith('Container')
      ? 'container'
      : key.endsWith('Table')
        ? 'table'
        : key.endsWith('Queue')
          ? 'queue'
          : key.endsWith('Topic')
            ? 'topic'
            : undefined;
    if (!kind) {
      problems.push(
        `DEFAULT_NAMES.${key}: unknown kind of name (expected …Container, …Table, …Queue or …Topic): teach test/infra/checks.ts how it is declared`,
      );
      continue;
    }
    const setting = settingNames[key];
    const value = setting === undefined ? undefined : settings.get(setting);
    if (value !== undefined && typeof value !== 'string') {
      problems.push(
        `${setting}: set to an expression in the Bicep (${textOf(value)}); use a literal so it can be checked`,
      );
      continue;
    }
    names.push({
      kind,
      name: value ?? fallback,
      source:
        setting === undefined
          ? `DEFAULT_NAMES.${key}`
          : `${setting}${value === undefined ? ' (default)' : ''}`,
    });
  }
  return { names, problems };
}

/** Declared names: containers, tables, queues (with maxDeliveryCount) and topics (with subscriptions). */
export interface DeclaredNames {
  containers: Set<string>;
  tables: Set<string>;
  queues: Map<string, BicepObject>;
  topics: Map<string, BicepObject>;
}

function literalStrings(
  value: BicepValue | undefined,
  vars: readonly BicepDeclaration[],
): string[] | undefined {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  if (isExpr(value)) {
    // concat(a, [b]) and friends: every array var or array literal it mentions.
    const out: string[] = [];
    for (const v of vars)
      if (v.kind === 'var' && mentions(value.expr, v.name))
        out.push(...(literalStrings(v.value, vars) ?? []));
    for (const lit of value.literals) out.push(...(literalStrings(lit, vars) ?? []));
    return out;
  }
  if (typeof value === 'string') return [value];
  return undefined;
}

function literalObjects(value: BicepValue | undefined, vars: readonly BicepDeclaration[]): BicepObject[] {
  if (Array.isArray(value)) return value.filter(isObject);
  if (isExpr(value)) {
    const out: BicepObject[] = [];
    for (const v of vars)
      if (v.kind === 'var' && mentions(value.expr, v.name)) out.push(...literalObjects(v.value, vars));
    for (const lit of value.literals) out.push(...literalObjects(lit, vars));
    return out;
  }
  return [];
}

/**
 * The values a declaration stands for: its `name` when it has no loop, else the source of its loop
 * (`[for x in p: …]`): a var of its file, or param `p` followed back to the module call in `main`.
 */
function loopValuesOf(
  files: BicepFiles,
  mainFile: string,
  r: BicepDeclaration & { file: string },
): {
  values: Array<{ value: BicepValue | undefined; vars: readonly BicepDeclaration[] }>;
  problems: string[];
} {
  const main = files.get(mainFile) ?? [];
  const decls = files.get(r.file) ?? [];
  if (!r.loop) return { values: [{ value: [valueAt(r.value, 'name') ?? null], vars: decls }], problems: [] };
  const source = /\bin\s+([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(r.loop)?.[1];
  const param = source === undefined ? undefined : find(decls, 'param', source);
  const local = source === undefined ? undefined : find(decls, 'var', source);
  if (local) return { values: [{ value: local.value, vars: decls }], problems: [] };
  if (!param || !source)
    return {
      values: [],
      problems: [`${r.file}: ${r.name} loops over "${r.loop}", which is not a param or var of that file`],
    };
  if (r.file === mainFile) return { values: [{ value: param.value, vars: main }], problems: [] };
  const calls = declarations(files, 'module').filter(
    (m) => m.file === mainFile && m.type?.replace(/^\.\//, '') === r.file,
  );
  return {
    values: calls.map((call) => ({ value: valueAt(call.value, `params.${source}`), vars: main })),
    problems: calls.length === 0 ? [`${r.file} is not called from ${mainFile}`] : [],
  };
}

/** {@link loopValuesOf} of every (non-existing) resource of a type. */
function loopSources(
  files: BicepFiles,
  mainFile: string,
  resourceType: string,
): {
  values: Array<{ value: BicepValue | undefined; vars: readonly BicepDeclaration[] }>;
  problems: string[];
} {
  const values: Array<{ value: BicepValue | undefined; vars: readonly BicepDeclaration[] }> = [];
  const problems: string[] = [];
  const resources = resourcesOfType(files, resourceType);
  if (resources.length === 0) problems.push(`no ${resourceType} resource is declared`);
  for (const r of resources) {
    const found = loopValuesOf(files, mainFile, r);
    values.push(...found.values);
    problems.push(...found.problems);
  }
  return { values, problems };
}

/** Reads the containers, tables, queues and topics the Bicep declares (following module params to main). */
export function declaredNames(
  files: BicepFiles,
  mainFile = 'main.bicep',
): { declared: DeclaredNames; problems: string[] } {
  const declared: DeclaredNames = {
    containers: new Set(),
    tables: new Set(),
    queues: new Map(),
    topics: new Map(),
  };
  const problems: string[] = [];
  const containers = loopSources(
    files,
    mainFile,
    'Microsoft.Storage/storageAccounts/blobServices/containers',
  );
  problems.push(...containers.problems);
  for (const { value, vars } of containers.values)
    for (const n of literalStrings(value, vars) ?? []) declared.containers.add(n);
  const tables = loopSources(files, mainFile, 'Microsoft.Storage/storageAccounts/tableServices/tables');
  problems.push(...tables.problems);
  for (const { value, vars } of tables.values)
    for (const n of literalStrings(value, vars) ?? []) declared.tables.add(n);
  const queues = loopSources(files, mainFile, 'Microsoft.ServiceBus/namespaces/queues');
  problems.push(...queues.problems);
  for (const { value, vars } of queues.values) {
    for (const q of literalObjects(value, vars))
      if (typeof q.name === 'string') declared.queues.set(q.name, q);
    for (const n of literalStrings(value, vars) ?? [])
      if (!declared.queues.has(n)) declared.queues.set(n, { name: n });
  }
  const topics = loopSources(files, mainFile, 'Microsoft.ServiceBus/namespaces/topics');
  problems.push(...topics.problems);
  for (const { value, vars } of topics.values) {
    for (const t of literalObjects(value, vars))
      if (typeof t.name === 'string') declared.topics.set(t.name, t);
  }
  return { declared, problems };
}

/** Every name the app uses is declared; queues carry a maxDeliveryCount; topics a subscription. */
export function checkNames(used: readonly UsedName[], declared: DeclaredNames): string[] {
  const problems: string[] = [];
  for (const u of used) {
    if (u.kind === 'container' && !declared.containers.has(u.name))
      problems.push(`blob container "${u.name}" (${u.source}) is not declared in the Bicep`);
    if (u.kind === 'table' && !declared.tables.has(u.name))
      problems.push(`table "${u.name}" (${u.source}) is not declared in the Bicep`);
    if (u.kind === 'queue') {
      const q = declared.queues.get(u.name);
      if (!q) problems.push(`Service Bus queue "${u.name}" (${u.source}) is not declared in the Bicep`);
      else if (typeof q.maxDeliveryCount !== 'number')
        problems.push(
          `Service Bus queue "${u.name}" has no literal maxDeliveryCount (poison messages would be retried the default 10 times)`,
        );
    }
    if (u.kind === 'topic') {
      const t = declared.topics.get(u.name);
      if (!t) problems.push(`Service Bus topic "${u.name}" (${u.source}) is not declared in the Bicep`);
      else if (!Array.isArray(t.subscriptions) || t.subscriptions.length === 0)
        problems.push(
          `Service Bus topic "${u.name}" has no subscription: events sent to it would be dropped`,
        );
    }
  }
  return problems;
}

/** A role assignment found in the Bicep. */
export interface RoleAssignmentFound {
  file: string;
  symbol: string;
  role?: RoleName;
  roleId?: string;
  principal: string;
  /** Symbol of the scope resource (an index such as `[i]` removed). */
  scopeSymbol?: string;
  scopeType?: string;
  conditional: boolean;
}

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** Every role assignment: role (resolved through `var` objects), principal expression, scope type. */
export function roleAssignments(files: BicepFiles): RoleAssignmentFound[] {
  return resourcesOfType(files, 'Microsoft.Authorization/roleAssignments').map((r) => {
    const decls = files.get(r.file) ?? [];
    const roleExpr = textOf(valueAt(r.value, 'properties.roleDefinitionId'));
    let roleId = GUID.exec(roleExpr)?.[0];
    if (!roleId) {
      for (const m of roleExpr.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)/g)) {
        const v = find(decls, 'var', m[1] as string);
        const id = v && isObject(v.value) ? v.value[m[2] as string] : undefined;
        if (typeof id === 'string') roleId = id;
      }
    }
    const role = (Object.keys(BUILT_IN_ROLES) as RoleName[]).find(
      (k) => BUILT_IN_ROLES[k] === roleId?.toLowerCase(),
    );
    const scopeSymbol = textOf(valueAt(r.value, 'scope'))
      .trim()
      .replace(/\[[^\]]*\]$/, '');
    const scopeType = decls.find((d) => d.kind === 'resource' && d.name === scopeSymbol)?.type;
    return {
      file: r.file,
      symbol: r.name,
      ...(role ? { role } : {}),
      ...(roleId ? { roleId } : {}),
      principal: textOf(valueAt(r.value, 'properties.principalId')).trim(),
      ...(scopeSymbol ? { scopeSymbol } : {}),
      ...(scopeType ? { scopeType } : {}),
      conditional: r.condition !== undefined,
    };
  });
}

/** Which kinds of identity-based connection the app settings use. */
export function identityConnections(
  settings: ReadonlyMap<string, BicepValue>,
  computed: readonly string[] = [],
): {
  connections: Array<{ prefix: string; kind: keyof typeof CONNECTION_ROLES }>;
  problems: string[];
} {
  const connections: Array<{ prefix: string; kind: keyof typeof CONNECTION_ROLES }> = [];
  const problems: string[] = [];
  const prefixes = new Set(
    [...settings.keys()].filter((k) => k.includes('__')).map((k) => k.slice(0, k.indexOf('__'))),
  );
  for (const prefix of prefixes) {
    const has = (suffix: string): boolean => settings.has(`${prefix}__${suffix}`);
    const kind = has('fullyQualifiedNamespace')
      ? 'serviceBus'
      : ['accountName', 'blobServiceUri', 'queueServiceUri', 'tableServiceUri'].some(has)
        ? 'storage'
        : undefined;
    if (!kind) continue;
    connections.push({ prefix, kind });
    if (settings.get(`${prefix}__credential`) !== 'managedidentity')
      problems.push(`${prefix}__credential must be 'managedidentity' (identity-based connection ${prefix})`);
    if (!has('clientId'))
      problems.push(
        `${prefix}__clientId is not set: with only a user-assigned identity the host cannot pick it`,
      );
  }
  const texts = [...[...settings.values()].map(textOf), ...computed];
  if (texts.some((t) => t.includes('@Microsoft.KeyVault(')))
    connections.push({ prefix: '@Microsoft.KeyVault(…)', kind: 'keyVaultReference' });
  if (settings.has('APPLICATIONINSIGHTS_AUTHENTICATION_STRING'))
    connections.push({ prefix: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', kind: 'appInsights' });
  return { connections, problems };
}

/**
 * Every identity-based connection has each role it needs, unconditionally, for the app's
 * identity (`appPrincipal`: the principalId expression the role assignments use), scoped to the
 * right kind of resource.
 */
export function checkRoles(
  connections: ReadonlyArray<{ prefix: string; kind: keyof typeof CONNECTION_ROLES }>,
  assignments: readonly RoleAssignmentFound[],
  appPrincipal: string,
): string[] {
  const problems: string[] = [];
  for (const c of connections) {
    const need = CONNECTION_ROLES[c.kind];
    for (const role of need.roles) {
      const ok = assignments.some(
        (a) =>
          a.role === role &&
          a.principal === appPrincipal &&
          !a.conditional &&
          a.scopeType?.toLowerCase() === need.scopeType.toLowerCase(),
      );
      if (!ok)
        problems.push(
          `${c.prefix} (${c.kind}) needs an unconditional "${role}" role assignment for ${appPrincipal} scoped to a ${need.scopeType}`,
        );
    }
  }
  return problems;
}

/**
 * The identity the app settings name (`…__clientId`), the one role assignments are made for and
 * the one the site runs as are the same module output in main.bicep.
 */
export function checkSameIdentity(
  files: BicepFiles,
  found: AppSettingsFound,
  mainFile = 'main.bicep',
): { appPrincipal: string; problems: string[] } {
  const problems: string[] = [];
  const siteDecls = files.get(found.file) ?? [];
  const site = siteDecls.find((d) => d.kind === 'resource' && d.name === found.siteSymbol);
  const clientIdExpr = textOf(found.settings.get('AzureWebJobsStorage__clientId')).trim();
  for (const [name, value] of found.settings) {
    if (name.endsWith('__clientId') && textOf(value).trim() !== clientIdExpr)
      problems.push(
        `${found.file}: ${name} is ${textOf(value)}, but AzureWebJobsStorage__clientId is ${clientIdExpr}: one identity for every connection`,
      );
  }
  const identities = valueAt(site?.value, 'identity.userAssignedIdentities');
  const identityIdParam = isObject(identities)
    ? /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(Object.keys(identities)[0] ?? '')?.[1]
    : undefined;
  if (!identityIdParam)
    problems.push(
      `${found.file}: the Function App must run as one user-assigned identity given as a param ('\${param}': {})`,
    );
  const appModule = declarations(files, 'module').find(
    (m) => m.file === mainFile && m.type?.replace(/^\.\//, '') === found.file,
  );
  if (!appModule) {
    problems.push(`${found.file} is not called from ${mainFile}`);
    return { appPrincipal: '', problems };
  }
  const passed = (param: string): string => textOf(valueAt(appModule.value, `params.${param}`)).trim();
  const clientSource = /^([A-Za-z_][A-Za-z0-9_]*)\.outputs\.clientId$/.exec(passed(clientIdExpr))?.[1];
  const idSource = identityIdParam
    ? /^([A-Za-z_][A-Za-z0-9_]*)\.outputs\.id$/.exec(passed(identityIdParam))?.[1]
    : undefined;
  if (!clientSource)
    problems.push(
      `${mainFile}: ${appModule.name} must get ${clientIdExpr || 'the client id'} from an identity module's outputs.clientId`,
    );
  if (identityIdParam && idSource !== clientSource)
    problems.push(
      `${mainFile}: ${appModule.name} runs as ${passed(identityIdParam)} but its connections use ${passed(clientIdExpr)}`,
    );
  const keyVaultIdentity = textOf(valueAt(site?.value, 'properties.keyVaultReferenceIdentity')).trim();
  if (identityIdParam && keyVaultIdentity !== identityIdParam)
    problems.push(
      `${found.file}: properties.keyVaultReferenceIdentity must be ${identityIdParam}: without it Key Vault references use the (absent) system identity`,
    );
  // The role module: whichever module passes `<identity>.outputs.principalId`.
  let appPrincipal = '';
  for (const m of declarations(files, 'module').filter((x) => x.file === mainFile)) {
    const params = valueAt(m.value, 'params');
    if (!isObject(params)) continue;
    for (const [param, v] of Object.entries(params)) {
      if (clientSource && textOf(v).trim() === `${clientSource}.outputs.principalId`) appPrincipal = param;
    }
  }
  if (!appPrincipal)
    problems.push(
      `${mainFile}: no module receives ${clientSource ?? '<identity>'}.outputs.principalId for role assignments`,
    );
  // Several modules make the app's role assignments (roles, the durable backend): each must get
  // the app's identity under that name, or its grants go to someone else.
  for (const m of declarations(files, 'module').filter((x) => x.file === mainFile)) {
    const given = appPrincipal ? valueAt(m.value, `params.${appPrincipal}`) : undefined;
    if (given !== undefined && textOf(given).trim() !== `${clientSource ?? ''}.outputs.principalId`)
      problems.push(
        `${mainFile}: module ${m.name} gets ${appPrincipal} = ${textOf(given)}, not ${clientSource ?? '<identity>'}.outputs.principalId`,
      );
  }
  return { appPrincipal, problems };
}

/** Parameters document themselves: `@description('Required. …')` without default, `Optional. …` with one. */
export function checkParamDescriptions(files: BicepFiles): string[] {
  const problems: string[] = [];
  for (const p of declarations(files, 'param')) {
    const d = p.decorators.find((x) => x.startsWith('@description('));
    const kind = /^@description\(\s*'(Required|Optional)\. /.exec(d ?? '')?.[1];
    if (!kind)
      problems.push(
        `${p.file}: param ${p.name} needs @description('Required. …') or @description('Optional. …')`,
      );
    else if ((kind === 'Required') !== (p.value === undefined))
      problems.push(
        `${p.file}: param ${p.name} is described "${kind}" but ${p.value === undefined ? 'has no default' : 'has a default'}`,
      );
  }
  return problems;
}

/** Resource property checks: shared keys off, local auth off, Flex Consumption, Node `nodeVersion`. */
export function checkHardening(
  files: BicepFiles,
  found: AppSettingsFound | undefined,
  nodeVersion: string,
): string[] {
  const problems: string[] = [];
  const accounts = resourcesOfType(files, 'Microsoft.Storage/storageAccounts');
  if (accounts.length === 0) problems.push('no storage account is declared');
  for (const a of accounts)
    if (valueAt(a.value, 'properties.allowSharedKeyAccess') !== false)
      problems.push(`${a.file}: ${a.name} must set properties.allowSharedKeyAccess: false`);
  for (const n of resourcesOfType(files, 'Microsoft.ServiceBus/namespaces'))
    if (valueAt(n.value, 'properties.disableLocalAuth') !== true)
      problems.push(`${n.file}: ${n.name} must set properties.disableLocalAuth: true`);
  for (const v of resourcesOfType(files, 'Microsoft.KeyVault/vaults'))
    if (valueAt(v.value, 'properties.enableRbacAuthorization') !== true)
      problems.push(
        `${v.file}: ${v.name} must set properties.enableRbacAuthorization: true (roles, not access policies)`,
      );
  const plans = resourcesOfType(files, 'Microsoft.Web/serverfarms');
  if (
    !plans.some(
      (p) => valueAt(p.value, 'sku.tier') === 'FlexConsumption' && valueAt(p.value, 'sku.name') === 'FC1',
    )
  )
    problems.push('no Flex Consumption plan (sku FC1 / FlexConsumption) is declared');
  if (found) {
    const site = (files.get(found.file) ?? []).find((d) => d.name === found.siteSymbol);
    const runtime = valueAt(site?.value, 'properties.functionAppConfig.runtime');
    if (valueAt(runtime, 'name') !== 'node' || valueAt(runtime, 'version') !== nodeVersion)
      problems.push(
        `${found.file}: functionAppConfig.runtime must be { name: 'node', version: '${nodeVersion}' }, is ${textOf(runtime)}`,
      );
    const deployAuth = valueAt(
      site?.value,
      'properties.functionAppConfig.deployment.storage.authentication.type',
    );
    if (deployAuth !== 'UserAssignedIdentity')
      problems.push(
        `${found.file}: functionAppConfig.deployment.storage.authentication.type must be 'UserAssignedIdentity' (shared keys are off)`,
      );
    for (const forbidden of [
      'FUNCTIONS_WORKER_RUNTIME',
      'FUNCTIONS_EXTENSION_VERSION',
      'WEBSITE_NODE_DEFAULT_VERSION',
      'AzureWebJobsStorage',
    ])
      if (found.settings.has(forbidden))
        problems.push(
          `${found.file}: app setting ${forbidden} must not be set (Flex Consumption refuses it, or it would carry a key)`,
        );
  }
  return problems;
}

/** A function the app registers, as the host receives it (name and binding metadata). */
export interface RegisteredFunctionInfo {
  name: string;
  bindings: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** Options of {@link checkBindings}. */
export interface CheckBindingsOptions {
  /** App settings the Bicep sets. */
  settings: ReadonlyMap<string, BicepValue>;
  /** The app's settings catalog (defaults resolve `%SETTING%`). */
  catalog: readonly AppSettingInfo[];
  declared: DeclaredNames;
  /** Identity-based connections the Bicep configures (from {@link identityConnections}). */
  connections: ReadonlyArray<{ prefix: string; kind: keyof typeof CONNECTION_ROLES }>;
  /**
   * How infra/ delivers blob events: whether an Event Grid system topic exists, and the
   * function → container pairs the postdeploy hook subscribes (see {@link blobTriggerHookPairs}).
   */
  eventGrid: { systemTopic: boolean; hookPairs: ReadonlyMap<string, string> };
}

/**
 * The default `function=container` pairs of the postdeploy hooks (`DMF_BLOB_TRIGGERS`), one map per
 * script; both scripts must agree.
 */
export function blobTriggerHookPairs(scripts: { sh: string; ps1: string }): {
  pairs: Map<string, string>;
  problems: string[];
} {
  const parse = (list: string | undefined): Map<string, string> =>
    new Map(
      (list ?? '')
        .split(/\s+/)
        .filter((p) => p.includes('='))
        .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as [string, string]),
    );
  const sh = parse(/\$\{DMF_BLOB_TRIGGERS-([^}]*)\}/.exec(scripts.sh)?.[1]);
  const ps1 = parse(/\$env:DMF_BLOB_TRIGGERS \} else \{ '([^']*)' \}/.exec(scripts.ps1)?.[1]);
  const problems: string[] = [];
  if (JSON.stringify([...sh].sort()) !== JSON.stringify([...ps1].sort()))
    problems.push(
      `postdeploy.sh and postdeploy.ps1 subscribe different blob triggers: ${JSON.stringify([...sh])} vs ${JSON.stringify([...ps1])}`,
    );
  return { pairs: sh, problems };
}

const NO_INFRA_BINDINGS = new Set([
  'httpTrigger',
  'http',
  'timerTrigger',
  'orchestrationTrigger',
  'activityTrigger',
  'entityTrigger',
  'durableClient',
]);

/**
 * What the functions the app registers need from infra: every `connection` is an identity-based
 * connection of the right kind, every `%SETTING%` resolves, every queue, topic, subscription and
 * container exists, and blob triggers use Event Grid (Flex Consumption has no polling blob trigger).
 */
export function checkBindings(
  functions: readonly RegisteredFunctionInfo[],
  options: CheckBindingsOptions,
): string[] {
  const problems: string[] = [];
  const resolve = (where: string, value: unknown): string | undefined => {
    if (typeof value !== 'string') return undefined;
    let ok = true;
    const out = value.replace(/%([^%]+)%/g, (_m, name: string) => {
      const set = options.settings.get(name);
      if (typeof set === 'string') return set;
      const fallback = options.catalog.find((s) => s.name === name)?.default;
      if (fallback !== undefined) return fallback;
      ok = false;
      problems.push(
        `${where}: %${name}% is neither set in the Bicep app settings nor has a default in APP_SETTINGS`,
      );
      return '';
    });
    return ok ? out : undefined;
  };
  const connection = (where: string, name: unknown, kind: 'storage' | 'serviceBus'): void => {
    const c =
      typeof name === 'string' && name !== ''
        ? name
        : kind === 'storage'
          ? 'AzureWebJobsStorage'
          : 'AzureWebJobsServiceBus';
    if (!options.connections.some((x) => x.prefix === c && x.kind === kind))
      problems.push(
        `${where}: connection "${c}" is not an identity-based ${kind} connection in the Bicep app settings (${c}__…)`,
      );
  };
  for (const fn of functions) {
    for (const [bindingName, b] of Object.entries(fn.bindings)) {
      const type = String(b.type);
      const where = `function ${fn.name}, binding ${bindingName} (${type})`;
      if (NO_INFRA_BINDINGS.has(type)) continue;
      if (type === 'serviceBusTrigger' || type === 'serviceBus') {
        connection(where, b.connection, 'serviceBus');
        const queue = resolve(where, b.queueName);
        const topic = resolve(where, b.topicName);
        if (queue !== undefined && !options.declared.queues.has(queue))
          problems.push(`${where}: queue "${queue}" is not declared in the Bicep`);
        if (topic !== undefined) {
          const t = options.declared.topics.get(topic);
          if (!t) problems.push(`${where}: topic "${topic}" is not declared in the Bicep`);
          const sub = resolve(where, b.subscriptionName);
          if (
            t &&
            type === 'serviceBusTrigger' &&
            (sub === undefined || !Array.isArray(t.subscriptions) || !t.subscriptions.includes(sub))
          )
            problems.push(
              `${where}: subscription "${sub ?? ''}" of topic "${topic}" is not declared in the Bicep`,
            );
        }
        if (
          queue === undefined &&
          topic === undefined &&
          b.queueName === undefined &&
          b.topicName === undefined
        )
          problems.push(`${where}: names neither a queue nor a topic`);
      } else if (type === 'blobTrigger' || type === 'blob') {
        connection(where, b.connection, 'storage');
        const path = resolve(where, b.path);
        const container = path?.split('/')[0];
        if (
          container !== undefined &&
          !container.includes('{') &&
          !options.declared.containers.has(container)
        )
          problems.push(`${where}: container "${container}" is not declared in the Bicep`);
        if (type === 'blobTrigger') {
          if (b.source !== 'EventGrid')
            problems.push(
              `${where}: Flex Consumption runs only Event Grid blob triggers; register it with source: 'EventGrid' (the local host ignores source)`,
            );
          else if (!options.eventGrid.systemTopic)
            problems.push(
              `${where}: an Event Grid blob trigger needs an Event Grid system topic on the storage account in the Bicep`,
            );
          else if (options.eventGrid.hookPairs.get(fn.name) !== container)
            problems.push(
              `${where}: the postdeploy hooks (infra/hooks, DMF_BLOB_TRIGGERS) must subscribe "${fn.name}=${container ?? '?'}" to blob events, they list ${JSON.stringify([...options.eventGrid.hookPairs])}`,
            );
        }
      } else if (type === 'queueTrigger' || type === 'queue') {
        connection(where, b.connection, 'storage');
      } else {
        problems.push(
          `${where}: binding type "${type}" is unknown to test/infra/checks.ts: declare what infra it needs there`,
        );
      }
    }
  }
  return problems;
}

/** Resolves `%SETTING%` in a binding value from the Bicep app settings, else the catalog's defaults. */
export function resolveBindingValue(
  value: unknown,
  settings: ReadonlyMap<string, BicepValue>,
  catalog: readonly AppSettingInfo[],
): { value?: string; missing: string[] } {
  if (typeof value !== 'string') return { missing: [] };
  const missing: string[] = [];
  const out = value.replace(/%([^%]+)%/g, (_m, name: string) => {
    const set = settings.get(name);
    if (typeof set === 'string') return set;
    const fallback = catalog.find((x) => x.name === name)?.default;
    if (fallback !== undefined) return fallback;
    missing.push(name);
    return '';
  });
  return missing.length > 0 ? { missing } : { value: out, missing };
}

/** Options of {@link checkServiceBusTriggerRoles}. */
export interface ServiceBusTriggerRoleOptions {
  files: BicepFiles;
  /** App settings the Bicep sets (resolve `%SETTING%` in queue names). */
  settings: ReadonlyMap<string, BicepValue>;
  catalog: readonly AppSettingInfo[];
  assignments: readonly RoleAssignmentFound[];
  /** The principalId expression role assignments use for the app (see {@link checkSameIdentity}). */
  appPrincipal: string;
  mainFile?: string;
}

/**
 * Every Service Bus trigger's entity grants the app "Azure Service Bus Data Owner", scoped to the
 * namespace or to that very queue: the trigger receives with it, and the scale controller reads the
 * entity's message count, which needs Manage rights (Data Owner for an identity). With Receive
 * only, the app does not scale out on the queue length (Learn, event-driven scaling; the official
 * Flex Consumption Service Bus quickstart grants Data Owner).
 */
export function checkServiceBusTriggerRoles(
  functions: readonly RegisteredFunctionInfo[],
  options: ServiceBusTriggerRoleOptions,
): string[] {
  const mainFile = options.mainFile ?? 'main.bicep';
  const problems: string[] = [];
  const owners = options.assignments.filter(
    (a) =>
      a.role === 'Azure Service Bus Data Owner' && a.principal === options.appPrincipal && !a.conditional,
  );
  const queuesOf = (a: RoleAssignmentFound): string[] => {
    const scope = (options.files.get(a.file) ?? []).find(
      (d) => d.kind === 'resource' && d.name === a.scopeSymbol,
    );
    if (!scope) return [];
    const found = loopValuesOf(options.files, mainFile, { ...scope, file: a.file });
    problems.push(...found.problems);
    return found.values.flatMap(({ value, vars }) => literalStrings(value, vars) ?? []);
  };
  for (const fn of functions) {
    for (const [bindingName, b] of Object.entries(fn.bindings)) {
      if (b.type !== 'serviceBusTrigger') continue;
      const where = `function ${fn.name}, binding ${bindingName} (serviceBusTrigger)`;
      const queue = resolveBindingValue(b.queueName, options.settings, options.catalog).value;
      const namespaceWide = owners.some((a) => a.scopeType === 'Microsoft.ServiceBus/namespaces');
      const queueScoped =
        queue !== undefined &&
        owners.some(
          (a) => a.scopeType === 'Microsoft.ServiceBus/namespaces/queues' && queuesOf(a).includes(queue),
        );
      if (!namespaceWide && !queueScoped)
        problems.push(
          `${where}: the app needs an unconditional "Azure Service Bus Data Owner" role assignment on ${queue === undefined ? 'the namespace (topic triggers)' : `queue "${queue}" or the namespace`}: the scale controller reads the ${queue === undefined ? 'subscription' : 'queue'} length with Manage rights`,
        );
    }
  }
  return problems;
}

/** A blob lifecycle rule of the Bicep, with its days resolved to main.bicep's param. */
export interface LifecycleRuleFound {
  name: string;
  container: string;
  /** The main.bicep param that sets the days, if the days are one. */
  daysParam?: string;
  /** That param's default (or the literal days). */
  defaultDays?: number;
  /** That param's `@minValue`. */
  minDays?: number;
}

/**
 * The storage account's lifecycle rules: one unconditional `managementPolicies` resource named
 * `default` whose rules are a loop over a module param that deletes block blobs under
 * `{container}/` after `deleteAfterDays` days, followed back to the objects main.bicep passes.
 */
export function lifecycleRules(
  files: BicepFiles,
  mainFile = 'main.bicep',
): { rules: LifecycleRuleFound[]; problems: string[] } {
  const problems: string[] = [];
  const policies = resourcesOfType(files, 'Microsoft.Storage/storageAccounts/managementPolicies');
  if (policies.length !== 1)
    return {
      rules: [],
      problems: [`expected one storage lifecycle policy (managementPolicies), found ${policies.length}`],
    };
  const policy = policies[0] as BicepDeclaration & { file: string };
  if (valueAt(policy.value, 'name') !== 'default')
    problems.push(
      `${policy.file}: the lifecycle policy must be named 'default' (the only name Azure accepts)`,
    );
  if (policy.condition !== undefined)
    problems.push(`${policy.file}: the lifecycle policy must not be conditional (${policy.condition})`);
  const rulesText = textOf(valueAt(policy.value, 'properties.policy.rules')).replace(/\s+/g, ' ');
  const loop = /^\[\s*for\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\s+([A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(rulesText);
  if (!loop)
    return {
      rules: [],
      problems: [
        ...problems,
        `${policy.file}: the lifecycle rules must be a loop over a param ([for r in rules: …])`,
      ],
    };
  const [, v, source] = loop as unknown as [string, string, string];
  for (const [what, pattern] of [
    ['enabled: true', 'enabled: true'],
    [`name: ${v}.name`, `name: ${v}.name`],
    ["blobTypes: [ 'blockBlob' ]", "blobTypes: [ 'blockBlob' ]"],
    [`prefixMatch: [ '\${${v}.container}/' ]`, `prefixMatch: [ '\${${v}.container}/' ]`],
    [
      `daysAfterModificationGreaterThan: ${v}.deleteAfterDays`,
      `daysAfterModificationGreaterThan: ${v}.deleteAfterDays`,
    ],
  ] as const)
    if (!rulesText.includes(pattern)) problems.push(`${policy.file}: each lifecycle rule must have ${what}`);
  const sources = loopValuesOf(files, mainFile, { ...policy, loop: `${v} in ${source}` });
  problems.push(...sources.problems);
  const main = files.get(mainFile) ?? [];
  const rules: LifecycleRuleFound[] = [];
  for (const { value, vars } of sources.values) {
    for (const r of literalObjects(value, vars)) {
      if (typeof r.name !== 'string' || typeof r.container !== 'string') {
        problems.push(`lifecycle rule ${textOf(r)}: name and container must be literals`);
        continue;
      }
      const days = r.deleteAfterDays;
      const paramName = isExpr(days) ? /^([A-Za-z_][A-Za-z0-9_]*)$/.exec(days.expr.trim())?.[1] : undefined;
      const param = paramName ? find(main, 'param', paramName) : undefined;
      const min = param?.decorators.map((d) => /^@minValue\((\d+)\)$/.exec(d)?.[1]).find(Boolean);
      rules.push({
        name: r.name,
        container: r.container,
        ...(param ? { daysParam: param.name } : {}),
        ...(typeof days === 'number'
          ? { defaultDays: days }
          : typeof param?.value === 'number'
            ? { defaultDays: param.value }
            : {}),
        ...(min ? { minDays: Number(min) } : {}),
      });
    }
  }
  return { rules, problems };
}

/**
 * The lifecycle rules delete what the app writes for people to read later (`expire`: results,
 * archive), each after a configurable number of days (a main.bicep param, at least 1), and never
 * touch what the app still has to read (`keep`: inbound, templates, …).
 */
export function checkLifecycle(
  rules: readonly LifecycleRuleFound[],
  containers: { expire: readonly string[]; keep: readonly string[] },
): string[] {
  const problems: string[] = [];
  for (const r of rules)
    if (!/^[A-Za-z0-9]+$/.test(r.name))
      problems.push(`lifecycle rule "${r.name}": a rule name has letters and digits only`);
  for (const c of containers.expire) {
    const found = rules.filter((r) => r.container === c);
    if (found.length !== 1) {
      problems.push(`container "${c}" needs exactly one lifecycle rule, has ${found.length}`);
      continue;
    }
    const rule = found[0] as LifecycleRuleFound;
    if (!rule.daysParam)
      problems.push(
        `lifecycle rule "${rule.name}" (${c}): its days must be a main.bicep param, so they can be configured`,
      );
    else if ((rule.minDays ?? 0) < 1 || (rule.defaultDays ?? 0) < 1)
      problems.push(
        `lifecycle rule "${rule.name}" (${c}): param ${rule.daysParam} needs @minValue(1) and a default of at least 1 day`,
      );
  }
  for (const c of containers.keep)
    if (rules.some((r) => r.container === c))
      problems.push(`container "${c}" holds files the app still reads: no lifecycle rule may delete from it`);
  return problems;
}

/**
 * The app setting of the durable purge (DMF_PURGE_AFTER_DAYS) is set from a main.bicep param whose
 * default keeps the durable history no longer than the job results (`resultsDays`), so a job the
 * jobs API no longer lists still has its result blob.
 */
export function checkPurgeSetting(
  files: BicepFiles,
  found: AppSettingsFound,
  setting: string,
  resultsDays: number | undefined,
  mainFile = 'main.bicep',
): { days?: number; problems: string[] } {
  const value = found.settings.get(setting);
  if (value === undefined) return { problems: [`${found.file}: app setting ${setting} is not set`] };
  const moduleParam = /^string\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(textOf(value).trim())?.[1];
  if (!moduleParam || !find(files.get(found.file) ?? [], 'param', moduleParam))
    return { problems: [`${found.file}: ${setting} must be string(<param>), is ${textOf(value)}`] };
  const call = declarations(files, 'module').find(
    (m) => m.file === mainFile && m.type?.replace(/^\.\//, '') === found.file,
  );
  const passed = textOf(valueAt(call?.value, `params.${moduleParam}`)).trim();
  const mainParam = find(files.get(mainFile) ?? [], 'param', passed);
  if (!mainParam || typeof mainParam.value !== 'number')
    return {
      problems: [
        `${mainFile}: ${found.file}'s ${moduleParam} must come from a main.bicep param with a default, is "${passed}"`,
      ],
    };
  const days = mainParam.value;
  const problems: string[] = [];
  if (resultsDays !== undefined && (days === 0 || days > resultsDays))
    problems.push(
      `${mainFile}: ${mainParam.name} defaults to ${days === 0 ? '0 (keep forever)' : `${days} days`}, but job results are kept ${resultsDays} days: keep the durable history no longer than the results (1 to ${resultsDays}), or the jobs API lists jobs whose result blob is gone`,
    );
  return { days, problems };
}

/** host.json settings production relies on (and that the local host in devhost/ reads). */
export function checkHostJson(hostJson: unknown): string[] {
  const problems: string[] = [];
  const parsed = z
    .object({
      version: z.literal('2.0'),
      functionTimeout: z.string().regex(/^\d{2}:\d{2}:\d{2}$/),
      extensionBundle: z.object({
        id: z.literal('Microsoft.Azure.Functions.ExtensionBundle'),
        version: z.literal('[4.*, 5.0.0)'),
      }),
      logging: z.object({
        applicationInsights: z.object({
          samplingSettings: z.object({ isEnabled: z.boolean(), excludedTypes: z.string() }),
        }),
      }),
      extensions: z.object({
        http: z.object({ routePrefix: z.string() }).optional(),
        durableTask: z.object({
          hubName: z
            .string()
            .regex(
              /^[A-Za-z][A-Za-z0-9]{2,44}$/,
              'a task hub name is 3-45 letters and digits, starting with a letter',
            ),
          maxConcurrentActivityFunctions: z.number().int().positive().optional(),
        }),
        serviceBus: z.object({
          maxConcurrentCalls: z.number().int().positive(),
          autoCompleteMessages: z.boolean(),
        }),
      }),
    })
    .safeParse(hostJson);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push(`host.json ${issue.path.join('.')}: ${issue.message}`);
    return problems;
  }
  const excluded = parsed.data.logging.applicationInsights.samplingSettings.excludedTypes
    .split(';')
    .map((s) => s.trim());
  for (const t of ['Request', 'Exception'])
    if (!excluded.includes(t))
      problems.push(
        `host.json: sampling must exclude ${t} (samplingSettings.excludedTypes), or failures get sampled away`,
      );
  return problems;
}

/** What {@link checkDurableBackend} checks besides the Bicep. */
export interface DurableBackendCheckOptions {
  /** The shape to check. */
  backend: DurableBackend;
  /** The host.json the package ships for `backend` (scripts/durable-backend.ts `hostJsonFor`). */
  hostJson: unknown;
  /** infra/main.parameters.json, parsed. */
  parameters: unknown;
  /** The app identity's principal param name ({@link checkSameIdentity}). */
  appPrincipal: string;
  /** The main file. Default `main.bicep`. */
  mainFile?: string;
}

/** The Bicep param that picks the backend, and the condition that deploys the scheduler. */
export const DURABLE_BACKEND_PARAM = 'durableBackend';
const SCHEDULER_CONDITION = /^durableBackend\s*==\s*'scheduler'$/;
const SCHEDULER_TYPES = ['Microsoft.DurableTask/schedulers', 'Microsoft.DurableTask/schedulers/taskHubs'];
/** storageProvider settings of the Azure Storage provider (Learn, host.json reference). */
const AZURE_STORAGE_PROVIDER_KEYS = [
  'connectionName',
  'connectionStringName',
  'controlQueueBatchSize',
  'controlQueueBufferThreshold',
  'controlQueueVisibilityTimeout',
  'maxQueuePollingInterval',
  'partitionCount',
  'trackingStoreConnectionName',
  'trackingStoreConnectionStringName',
  'trackingStoreNamePrefix',
  'useLegacyPartitionManagement',
  'useTablePartitionManagement',
  'workItemQueueVisibilityTimeout',
];
/** Learn ("Azure Storage provider", Flex Consumption): queue polling of 10 seconds or less. */
const MAX_FLEX_POLLING_SECONDS = 10;

/** A JSON value as text for a message. */
function show(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
}

function seconds(timespan: unknown): number | undefined {
  const m = typeof timespan === 'string' ? /^(\d{2}):(\d{2}):(\d{2})$/.exec(timespan) : null;
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
}

function versionAtLeast(version: string, floor: string): boolean {
  const a = version.split('.').map(Number);
  const b = floor.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/**
 * One shape of the durable backend, end to end: the `durableBackend` param (and the azd value
 * feeding it), the Durable Task Scheduler resources deployed exactly when it is `scheduler`, the
 * app identity's Durable Task Data Contributor role on them, the app settings of that shape and
 * the host.json the package ships for it (storage provider, hub name, connection, bundle).
 */
export function checkDurableBackend(
  files: BicepFiles,
  found: AppSettingsFound,
  options: DurableBackendCheckOptions,
): string[] {
  const problems: string[] = [];
  const mainFile = options.mainFile ?? 'main.bicep';
  const main = files.get(mainFile) ?? [];
  const scheduler = options.backend === 'scheduler';

  // 1. The param, and the azd value feeding it (the one `npm run package` reads too).
  const param = find(main, 'param', DURABLE_BACKEND_PARAM);
  if (!param) problems.push(`${mainFile}: no param ${DURABLE_BACKEND_PARAM}`);
  else {
    const allowed = param.decorators.find((d) => d.startsWith('@allowed('));
    const values = [...(allowed ?? '').matchAll(/'([^']*)'/g)].map((m) => m[1]).sort();
    if (values.join() !== [...DURABLE_BACKENDS].sort().join())
      problems.push(
        `${mainFile}: param ${DURABLE_BACKEND_PARAM} must be @allowed([${DURABLE_BACKENDS.map((b) => `'${b}'`).join(' ')}])`,
      );
    if (param.value !== DEFAULT_DURABLE_BACKEND)
      problems.push(
        `${mainFile}: param ${DURABLE_BACKEND_PARAM} must default to '${DEFAULT_DURABLE_BACKEND}'`,
      );
  }
  const fed = valueAt(options.parameters as BicepValue, `parameters.${DURABLE_BACKEND_PARAM}.value`);
  const expectedFed = `\${${DURABLE_BACKEND_SETTING}=${DEFAULT_DURABLE_BACKEND}}`;
  if (fed !== expectedFed)
    problems.push(
      `main.parameters.json must pass ${DURABLE_BACKEND_PARAM} "${expectedFed}", the azd value npm run package reads`,
    );

  // 2. The scheduler and its task hub, deployed exactly when durableBackend is 'scheduler'.
  const dts = SCHEDULER_TYPES.map((t) => resourcesOfType(files, t));
  const [schedulers = [], taskHubs = []] = dts;
  const dtsFiles = new Set(dts.flat().map((r) => r.file));
  const deployedIn = (file: string): { deployed: boolean; module?: BicepDeclaration } => {
    if (file === mainFile) return { deployed: true };
    const module = declarations(files, 'module').find(
      (m) => m.file === mainFile && m.type?.replace(/^\.\//, '') === file,
    );
    if (!module) return { deployed: false };
    if (module.condition === undefined) return { deployed: true, module };
    if (!SCHEDULER_CONDITION.test(module.condition.trim())) {
      problems.push(
        `${mainFile}: module ${module.name} (${file}) must be deployed if (durableBackend == 'scheduler'), is if (${module.condition})`,
      );
      return { deployed: true, module };
    }
    return { deployed: scheduler, module };
  };
  for (const r of dts.flat()) {
    const inModule = deployedIn(r.file).deployed;
    const own = r.condition === undefined || SCHEDULER_CONDITION.test(r.condition.trim());
    if (!scheduler && inModule && (r.condition === undefined || !own))
      problems.push(
        `${r.file}: ${r.name} (${r.type}) is deployed when durableBackend is '${options.backend}': only 'scheduler' needs it`,
      );
  }
  if (scheduler) {
    if (schedulers.length !== 1 || taskHubs.length !== 1)
      problems.push(
        `durableBackend 'scheduler' needs one Microsoft.DurableTask/schedulers and one .../taskHubs resource, found ${schedulers.length} and ${taskHubs.length}`,
      );
    for (const file of dtsFiles)
      if (!deployedIn(file).deployed) problems.push(`${file} is not deployed by ${mainFile}`);
  }

  // 3. The app identity's data role, on the task hub (or the scheduler), gated like the resources.
  if (scheduler) {
    const granted = roleAssignments(files).some(
      (a) =>
        a.role === 'Durable Task Data Contributor' &&
        a.principal === options.appPrincipal &&
        !a.conditional &&
        dtsFiles.has(a.file) &&
        SCHEDULER_TYPES.some((t) => t.toLowerCase() === a.scopeType?.toLowerCase()),
    );
    if (!granted)
      problems.push(
        `durableBackend 'scheduler' needs an unconditional "Durable Task Data Contributor" role assignment for ${options.appPrincipal} on the task hub or scheduler, next to them`,
      );
  }

  // 4. The app settings of this shape, and the wiring of their values.
  const settings = settingsWhen(found, DURABLE_BACKEND_PARAM, options.backend);
  const connection = settings.get(SCHEDULER_CONNECTION_SETTING);
  const hubSetting = 'TASKHUB_NAME';
  if (!scheduler) {
    for (const name of [SCHEDULER_CONNECTION_SETTING, hubSetting])
      if (settings.has(name))
        problems.push(`${found.file}: ${name} is set when durableBackend is '${options.backend}'`);
  } else {
    const clientId = textOf(found.settings.get('AzureWebJobsStorage__clientId')).trim();
    const m =
      /^'Endpoint=\$\{([A-Za-z_][A-Za-z0-9_]*)\};Authentication=ManagedIdentity;ClientID=\$\{([^}]*)\}'$/.exec(
        textOf(connection).trim(),
      );
    if (!m?.[1])
      problems.push(
        `${found.file}: ${SCHEDULER_CONNECTION_SETTING} must be 'Endpoint=\${endpoint};Authentication=ManagedIdentity;ClientID=\${clientId}' when durableBackend is 'scheduler', is ${connection === undefined ? 'not set' : textOf(connection)}`,
      );
    else {
      if (m[2] !== clientId)
        problems.push(
          `${found.file}: ${SCHEDULER_CONNECTION_SETTING} uses ClientID=\${${m[2] ?? ''}}, the other connections ${clientId}: one identity`,
        );
      // main.bicep passes the scheduler module's endpoint output, which is the scheduler's endpoint.
      const appModule = declarations(files, 'module').find(
        (x) => x.file === mainFile && x.type?.replace(/^\.\//, '') === found.file,
      );
      const passed = textOf(valueAt(appModule?.value, `params.${m[1]}`));
      const dtsModule = [...dtsFiles].map((f) => deployedIn(f).module).find((x) => x !== undefined);
      const endpointOutput = dtsModule
        ? (files.get(dtsModule.type?.replace(/^\.\//, '') ?? '') ?? []).find(
            (d) => d.kind === 'output' && d.name === 'endpoint',
          )
        : undefined;
      if (!dtsModule || !mentions(passed, `${dtsModule.name}.outputs.endpoint`))
        problems.push(
          `${mainFile}: the Function App's ${m[1]} must be the scheduler module's outputs.endpoint, is ${passed || 'not passed'}`,
        );
      if (
        schedulers[0] &&
        textOf(endpointOutput?.value).trim() !== `${schedulers[0].name}.properties.endpoint`
      )
        problems.push(
          `the scheduler module's output endpoint must be ${schedulers[0].name}.properties.endpoint`,
        );
      if (valueAt(appModule?.value, `params.${DURABLE_BACKEND_PARAM}`) === undefined)
        problems.push(`${mainFile}: the Function App module does not get ${DURABLE_BACKEND_PARAM}`);
      // TASKHUB_NAME: the name the task hub resource gets.
      const hub = textOf(settings.get(hubSetting)).trim();
      const hubResourceName = textOf(valueAt(taskHubs[0]?.value, 'name')).trim();
      const viaApp = textOf(valueAt(appModule?.value, `params.${hub}`)).trim();
      const viaDts = textOf(valueAt(dtsModule?.value, `params.${hubResourceName}`)).trim();
      if (!settings.has(hubSetting) || !viaApp || viaApp !== viaDts)
        problems.push(
          `${hubSetting} must be the name the task hub resource gets (app: ${viaApp || 'not set'}, task hub: ${viaDts || hubResourceName || 'none'})`,
        );
    }
  }

  // 5. The host.json the package ships for this shape.
  const durable = valueAt(options.hostJson as BicepValue, 'extensions.durableTask');
  const provider = valueAt(durable, 'storageProvider');
  const hubName = valueAt(durable, 'hubName');
  const type = valueAt(provider, 'type');
  if (scheduler) {
    if (typeof type !== 'string' || type.toLowerCase() !== SCHEDULER_PROVIDER_TYPE.toLowerCase())
      problems.push(`host.json (scheduler): storageProvider.type must be '${SCHEDULER_PROVIDER_TYPE}'`);
    const conn = valueAt(provider, 'connectionStringName');
    if (typeof conn !== 'string' || !settings.has(conn))
      problems.push(
        `host.json (scheduler): storageProvider.connectionStringName (${show(conn)}) must name an app setting the Bicep sets for 'scheduler'`,
      );
    const stray = AZURE_STORAGE_PROVIDER_KEYS.filter(
      (k) => k !== 'connectionStringName' && isObject(provider) && k in provider,
    );
    if (stray.length > 0)
      problems.push(
        `host.json (scheduler): Azure Storage settings left in storageProvider: ${stray.join(', ')}`,
      );
    const hubRef = typeof hubName === 'string' ? /^%([^%]+)%$/.exec(hubName)?.[1] : undefined;
    if (!hubRef || !settings.has(hubRef))
      problems.push(
        `host.json (scheduler): hubName must be %SETTING% of an app setting the Bicep sets (${show(hubName)})`,
      );
    if (valueAt(durable, 'extendedSessionsEnabled') === true)
      problems.push(
        'host.json (scheduler): extendedSessionsEnabled (the scheduler has no extended sessions)',
      );
    const bundle = valueAt(options.hostJson as BicepValue, 'extensionBundle.version');
    const floor =
      typeof bundle === 'string' ? /^\[(\d+\.\d+\.\d+),\s*5\.0\.0\)$/.exec(bundle)?.[1] : undefined;
    if (!floor || !versionAtLeast(floor, SCHEDULER_MIN_BUNDLE))
      problems.push(
        `host.json (scheduler): extensionBundle.version must be [${SCHEDULER_MIN_BUNDLE} or later, 5.0.0), the bundles with the scheduler's extension; is ${show(bundle)}`,
      );
  } else {
    if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'azurestorage'))
      problems.push(`host.json (azureStorage): storageProvider.type is ${show(type)}`);
    const conn = valueAt(provider, 'connectionStringName') ?? valueAt(provider, 'connectionName');
    if (conn !== undefined && conn !== 'AzureWebJobsStorage')
      problems.push(`host.json (azureStorage): the task hub must use AzureWebJobsStorage (is ${show(conn)})`);
    const partitions = valueAt(provider, 'partitionCount');
    if (typeof partitions !== 'number' || !Number.isInteger(partitions) || partitions < 1 || partitions > 16)
      problems.push(
        'host.json (azureStorage): storageProvider.partitionCount must be set, 1-16 (it cannot change later)',
      );
    const polling = seconds(valueAt(provider, 'maxQueuePollingInterval'));
    if (polling === undefined || polling > MAX_FLEX_POLLING_SECONDS)
      problems.push(
        `host.json (azureStorage): storageProvider.maxQueuePollingInterval must be at most 00:00:${String(MAX_FLEX_POLLING_SECONDS).padStart(2, '0')} on Flex Consumption`,
      );
    if (typeof hubName !== 'string' || hubName.includes('%'))
      problems.push('host.json (azureStorage): hubName must be a literal task hub name');
  }
  return problems;
}

/**
 * Every tuned durableTask value of host.json (and of its storageProvider) is in the document
 * that explains it: its key in backticks and its value on the same line.
 */
export function checkDurableTuningDocumented(hostJson: unknown, doc: string, docName: string): string[] {
  const durable = valueAt(hostJson as BicepValue, 'extensions.durableTask');
  const entries: Array<[string, unknown]> = [];
  if (isObject(durable))
    for (const [k, v] of Object.entries(durable)) {
      if (k === 'hubName' || k === 'tracing') continue;
      if (k === 'storageProvider' && isObject(v)) entries.push(...Object.entries(v));
      else entries.push([k, v]);
    }
  if (entries.length === 0) return ['host.json has no durableTask settings to document'];
  const lines = doc.split('\n');
  return entries
    .filter(([k, v]) => !lines.some((line) => line.includes(`\`${k}\``) && line.includes(show(v))))
    .map(([k, v]) => `${docName} does not give host.json's durableTask \`${k}\` = ${show(v)} and its reason`);
}

/**
 * The job index (src/shared/storage/jobIndex.ts) reaches Table storage in the AzureWebJobsStorage
 * account with the app's identity, whatever the durable backend: with `durableBackend` scheduler
 * Durable Functions no longer needs tables, but the index still does. So for both backends the app
 * settings must name the account (its table endpoint is derived from `__accountName`) or the table
 * endpoint, and the app identity must hold "Storage Table Data Contributor" on the account without
 * a condition.
 */
export function checkJobIndexAccess(
  found: AppSettingsFound,
  assignments: readonly RoleAssignmentFound[],
  appPrincipal: string,
): string[] {
  const problems: string[] = [];
  for (const backend of DURABLE_BACKENDS) {
    const settings = settingsWhen(found, DURABLE_BACKEND_PARAM, backend);
    if (settings.has('AzureWebJobsStorage')) continue; // a connection string names the table endpoint
    if (
      !settings.has('AzureWebJobsStorage__accountName') &&
      !settings.has('AzureWebJobsStorage__tableServiceUri')
    )
      problems.push(
        `${found.file}: with durableBackend '${backend}' neither AzureWebJobsStorage__accountName nor __tableServiceUri is set: the job index cannot find its table endpoint`,
      );
  }
  const role = assignments.some(
    (a) =>
      a.role === 'Storage Table Data Contributor' &&
      a.principal === appPrincipal &&
      !a.conditional &&
      a.scopeType?.toLowerCase() === 'microsoft.storage/storageaccounts',
  );
  if (!role)
    problems.push(
      `the job index needs an unconditional "Storage Table Data Contributor" role assignment for ${appPrincipal} on the storage account (with either durable backend)`,
    );
  return problems;
}
