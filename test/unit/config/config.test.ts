import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import type * as AuthTypes from '../../../src/shared/auth/types.js';
import { ConfigError } from '../../../src/shared/errors.js';
import {
  APP_SETTINGS,
  DEFAULT_NAMES,
  DEFAULT_POLLING,
  EnvironmentAuthConfigSchema,
  dmfConfigJsonSchema,
  getDataProject,
  isValidNcrontab,
  loadConfig,
  referencedSettings,
  resolveSecret,
  type EnvironmentAuthConfig,
  type EnvironmentConfig,
} from '../../../src/shared/config/index.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const APP = '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a00';

function baseJson(): Record<string, unknown> {
  return {
    environments: [
      {
        name: 'usmf-test',
        url: 'https://usmf-test.sandbox.operations.dynamics.com/',
        auth: {
          kind: 'clientSecret',
          tenantId: TENANT,
          clientId: APP,
          clientSecretSetting: 'USMF_CLIENT_SECRET',
        },
        defaultLegalEntity: 'USMF',
      },
    ],
    dataProjects: [
      {
        name: 'customers-import',
        definitionGroupId: 'Import-Customers',
        environment: 'usmf-test',
        direction: 'import',
        template: 'customers.zip',
      },
      {
        name: 'customers-export',
        definitionGroupId: 'Export-Customers',
        environment: 'usmf-test',
        direction: 'export',
        legalEntity: 'DEMF',
        schedule: '0 0 */6 * * *',
      },
    ],
    recurringActivities: [
      {
        id: '{6F1F1B52-4A1C-4F0E-9C43-2F0A8C7D9E10}',
        environment: 'usmf-test',
        direction: 'export',
        schedule: '0 */5 * * * *',
      },
    ],
  };
}

function baseEnv(json: unknown = baseJson()): NodeJS.ProcessEnv {
  return {
    DMF_CONFIG: JSON.stringify(json),
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    ServiceBusConnection:
      'Endpoint=sb://localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=abc=',
    USMF_CLIENT_SECRET: 'resolved-by-the-platform',
  };
}

function issuesOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('CONFIG_INVALID');
    return [...(error as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

/** A client-secret auth block of the test tenant and app, with `over`. */
const secretAuth = (over: Record<string, unknown>): Record<string, unknown> => ({
  kind: 'clientSecret',
  tenantId: TENANT,
  clientId: APP,
  ...over,
});

describe('loadConfig', () => {
  it('returns a fully defaulted config', () => {
    const config = loadConfig(baseEnv());
    const [env] = config.environments;
    expect(env).toMatchObject({
      name: 'usmf-test',
      url: 'https://usmf-test.sandbox.operations.dynamics.com',
      onPremises: false,
      concurrency: 1,
    });
    expect(config.dataProjects[0]).toMatchObject({
      legalEntity: 'USMF', // from the environment's default
      execute: true,
      overwrite: true,
      reExecute: false,
      packageName: 'customers-import',
      polling: {
        firstIntervalSeconds: 15,
        backoffFactor: 1.6,
        maxIntervalSeconds: 300,
        deadlineHours: 24,
        notStartedGraceSeconds: 300,
      },
    });
    expect(getDataProject(config, 'customers-export').legalEntity).toBe('DEMF');
    expect(config.recurringActivities[0]).toEqual({
      id: '6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10',
      environment: 'usmf-test',
      direction: 'export',
      schedule: '0 */5 * * * *',
      maxMessagesPerRun: 10,
      ackWhenFileMissing: false,
    });
    expect(config.storage).toEqual({
      connection: { kind: 'connectionString', connectionString: 'UseDevelopmentStorage=true' },
      containers: {
        inbound: 'dmf-inbound',
        archive: 'dmf-archive',
        results: 'dmf-results',
        outbound: 'dmf-outbound',
        recurringInbound: 'dmf-recurring-inbound',
        templates: 'dmf-templates',
      },
      tables: { jobs: 'dmfjobs', jobIds: 'dmfjobids' },
      sourceContainers: ['dmf-inbound'],
    });
    expect(config.serviceBus).toMatchObject({
      commandsQueue: 'dmf-commands',
      eventsTopic: 'dmf-events',
      connection: { kind: 'connectionString' },
    });
    expect(config.configSource).toEqual({ setting: 'DMF_CONFIG' });
    expect(DEFAULT_POLLING.firstIntervalSeconds).toBe(15);
  });

  it('reports every invalid key at once, each with its path', () => {
    const json = baseJson();
    const environments = json.environments as Record<string, unknown>[];
    environments[0]!.auth = secretAuth({ clientId: 'not-a-guid', clientSecretSetting: 'USMF_CLIENT_SECRET' });
    environments[0]!.url = 'http://usmf.example.com';
    environments[0]!.concurrency = 0;
    const projects = json.dataProjects as Record<string, unknown>[];
    projects[0]!.direction = 'sideways';
    projects[0]!.polling = { backoffFactor: 0.5 };
    projects[1]!.schedule = '*/5 * * * *'; // 5 fields: NCRONTAB wants 6
    projects[1]!.environment = 'nowhere';
    (json.recurringActivities as Record<string, unknown>[])[0]!.id = '{6F1F1B52-4A1C-4F0E-9C43-2F0A8C7D9E10';
    const env = { ...baseEnv(json), AzureWebJobsStorage: undefined, DMF_INBOUND_CONTAINER: 'Bad_Name' };
    const paths = issuesOf(() => loadConfig(env)).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'DMF_CONFIG.environments[0].auth.clientId',
        'DMF_CONFIG.environments[0].url',
        'DMF_CONFIG.environments[0].concurrency',
        'DMF_CONFIG.dataProjects[0].direction',
        'DMF_CONFIG.dataProjects[0].polling.backoffFactor',
        'DMF_CONFIG.dataProjects[1].schedule',
        'DMF_CONFIG.dataProjects[1].environment',
        'DMF_CONFIG.recurringActivities[0].id',
        'AzureWebJobsStorage',
        'DMF_INBOUND_CONTAINER',
      ]),
    );
    expect(paths).toHaveLength(10);
  });

  it('refuses an environment name that makes a drain instance id longer than the Durable Task Scheduler takes', () => {
    const json = baseJson();
    const long = `usmf-${'x'.repeat(45)}`; // 50 characters: 17 + 50 + 1 + 36 = 104
    (json.environments as Record<string, unknown>[])[0]!.name = long;
    for (const p of json.dataProjects as Record<string, unknown>[]) p.environment = long;
    (json.recurringActivities as Record<string, unknown>[])[0]!.environment = long;
    const found = issuesOf(() => loadConfig(baseEnv(json)));
    expect(found.map((f) => f.path)).toEqual(['DMF_CONFIG.recurringActivities[0].environment']);
    expect(found[0]?.message).toContain(
      '104 characters; the Durable Task Scheduler takes at most 100: use an environment name of at most 46 characters',
    );
    // 46 characters fit exactly
    const fits = `usmf-${'x'.repeat(41)}`;
    (json.environments as Record<string, unknown>[])[0]!.name = fits;
    for (const p of json.dataProjects as Record<string, unknown>[]) p.environment = fits;
    (json.recurringActivities as Record<string, unknown>[])[0]!.environment = fits;
    expect(() => loadConfig(baseEnv(json))).not.toThrow();
  });

  it("refuses an import concurrency above 1 with the package API docs' sentence (F&O fails parallel imports)", () => {
    const json = baseJson();
    (json.environments as Record<string, unknown>[])[0]!.concurrency = 4;
    const issues = issuesOf(() => loadConfig(baseEnv(json)));
    expect(issues.map((i) => i.path)).toEqual(['DMF_CONFIG.environments[0].concurrency']);
    expect(issues[0]!.message).toContain(
      '"ImportFromPackage() must not be called in parallel threads. Otherwise, it will fail."',
    );
  });

  it('rejects inline secrets and points to the *Setting key', () => {
    const json = baseJson();
    (json.environments as Record<string, unknown>[])[0]!.auth = secretAuth({ clientSecret: 'Xk8Q~abc' });
    const issues = issuesOf(() => loadConfig(baseEnv(json)));
    const secret = issues.find((i) => i.path === 'DMF_CONFIG.environments[0].auth.clientSecret');
    expect(secret?.message).toContain('"clientSecretSetting"');
    expect(secret?.message).toContain('Key Vault');
    // the missing clientSecretSetting is reported too, but no "unknown key" noise for clientSecret
    expect(issues.map((i) => i.path)).toEqual([
      'DMF_CONFIG.environments[0].auth.clientSecret',
      'DMF_CONFIG.environments[0].auth.clientSecretSetting',
    ]);
    expect(JSON.stringify(issues)).not.toContain('Xk8Q');
  });

  it('refuses a secret value where a setting name belongs, and a PEM anywhere', () => {
    const json = baseJson();
    (json.environments as Record<string, unknown>[])[0]!.auth = {
      kind: 'clientCertificate',
      tenantId: TENANT,
      clientId: APP,
      certificateSetting: '-----BEGIN CERTIFICATE-----\nMIIB…',
    };
    const issues = issuesOf(() => loadConfig(baseEnv(json)));
    expect(issues.map((i) => i.path)).toEqual([
      'DMF_CONFIG.environments[0].auth.certificateSetting',
      'DMF_CONFIG.environments[0].auth.certificateSetting',
    ]);
    const messages = issues.map((i) => i.message).join('\n');
    expect(messages).toContain('looks like a PEM');
    expect(messages).toContain('NAME of an app setting');
    expect(JSON.stringify(issues)).not.toContain('MIIB');
  });

  it('checks that named secret settings are set and resolved', () => {
    const env = {
      ...baseEnv(),
      USMF_CLIENT_SECRET: '@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/usmf/)',
    };
    expect(issuesOf(() => loadConfig(env))).toEqual([
      {
        path: 'DMF_CONFIG.environments[0].auth.clientSecretSetting',
        message: expect.stringContaining('unresolved Key Vault reference') as string,
      },
    ]);
    const unset = { ...baseEnv(), USMF_CLIENT_SECRET: undefined };
    expect(issuesOf(() => loadConfig(unset))[0]?.message).toMatch(/^names an app setting that is not set/);
    expect(() => loadConfig(unset, { checkSecretSettings: false })).not.toThrow();
  });

  it('never echoes a secret pasted where a setting NAME belongs (issue 12.8)', () => {
    // an Entra-style secret that happens to fit the setting-name pattern (letters, digits, . _ -)
    const secret = 'Qx7Ab.Z9k_Lm2-Np4Rs6Tu8Vw0Yz1Ac3Eg5Ik7Mo9';
    const json = baseJson();
    const env0 = (json.environments as Record<string, unknown>[])[0]!;
    env0.auth = { ...(env0.auth as Record<string, unknown>), clientSecretSetting: secret };
    const issues = issuesOf(() => loadConfig(baseEnv(json)));
    expect(issues[0]).toMatchObject({ path: 'DMF_CONFIG.environments[0].auth.clientSecretSetting' });
    expect(issues[0]?.message).toMatch(/not set/);
    expect(JSON.stringify(issues)).not.toContain(secret);
    expect(JSON.stringify(issues)).not.toContain(secret.slice(0, 12));
    let thrown: unknown;
    try {
      resolveSecret(secret, {});
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(`${String(thrown)} ${JSON.stringify((thrown as ConfigError).issues)}`).not.toContain(secret);
  });

  it('checks cross-references: unique names, adfs ⇔ on-premises, legal entity, recurring on cloud only', () => {
    const json = baseJson();
    const environments = json.environments as Record<string, unknown>[];
    environments.push({
      name: 'onprem',
      url: 'https://ax.contoso.com',
      auth: {
        kind: 'clientSecret',
        tenantId: TENANT,
        clientId: APP,
        clientSecretSetting: 'USMF_CLIENT_SECRET',
      },
      onPremises: true,
    });
    environments.push({
      name: 'adfs-cloud',
      url: 'https://ax2.contoso.com',
      auth: {
        kind: 'adfs',
        adfsUrl: 'https://adfs.contoso.com/',
        clientId: 'ax-client',
        clientSecretSetting: 'USMF_CLIENT_SECRET',
      },
    });
    const projects = json.dataProjects as Record<string, unknown>[];
    projects.push({ ...projects[0], environment: 'onprem' }); // duplicate name, and no legal entity
    (json.recurringActivities as Record<string, unknown>[]).push(
      { id: '6f1f1b52-4a1c-4f0e-9c43-2f0a8c7d9e10', environment: 'usmf-test', direction: 'import' },
      { id: '11111111-2222-3333-4444-555555555555', environment: 'onprem', direction: 'export' },
    );
    const issues = issuesOf(() => loadConfig(baseEnv(json)));
    expect(issues.map((i) => i.path)).toEqual([
      'DMF_CONFIG.environments[1].auth.kind',
      'DMF_CONFIG.environments[2].onPremises',
      'DMF_CONFIG.dataProjects[2].name',
      'DMF_CONFIG.dataProjects[2].legalEntity',
      'DMF_CONFIG.recurringActivities[1].id',
      'DMF_CONFIG.recurringActivities[2].environment',
      'DMF_CONFIG.recurringActivities[2].schedule',
    ]);
  });

  it('reads entities, batches, chains and legalEntities with their defaults', () => {
    const json = baseJson();
    const projects = json.dataProjects as Record<string, unknown>[];
    Object.assign(projects[0]!, {
      entities: [
        { entity: 'Sales order headers V2', files: '*header*.csv' },
        { entity: 'Sales order lines V2', files: '*lines*.csv', optional: true },
      ],
      batch: {},
    });
    Object.assign(projects[1]!, { legalEntities: ['USMF', 'DEMF'] });
    json.chains = [{ name: 'orders', environment: 'usmf-test', projects: ['customers-import'] }];
    const config = loadConfig(baseEnv(json));
    const imports = getDataProject(config, 'customers-import');
    expect(imports.entities).toEqual([
      { entity: 'Sales order headers V2', files: '*header*.csv', optional: false },
      { entity: 'Sales order lines V2', files: '*lines*.csv', optional: true },
    ]);
    expect(imports.batch).toEqual({
      path: '{batchId}/{file}',
      trigger: '_ready',
      complete: 'trigger',
      timeoutMinutes: 60,
    });
    expect(getDataProject(config, 'customers-export').legalEntities).toEqual(['USMF', 'DEMF']);
    expect(config.chains).toEqual([
      {
        name: 'orders',
        environment: 'usmf-test',
        projects: ['customers-import'],
        onPartialSuccess: 'stop',
        batch: { trigger: '_ready', complete: 'trigger', timeoutMinutes: 60 },
      },
    ]);
  });

  it('refuses entities, batches, chains and legalEntities that cannot work, each with its path', () => {
    const json = baseJson();
    const projects = json.dataProjects as Record<string, unknown>[];
    projects.push(
      // entities without a template, a label twice, a pattern that is a path, a batch path without {file}
      {
        name: 'no-template',
        definitionGroupId: 'X',
        environment: 'usmf-test',
        direction: 'import',
        entities: [
          { entity: 'A', files: '*.csv' },
          { entity: 'a', files: '../*.csv' },
        ],
        batch: { path: '{batchId}', trigger: '*' },
      },
      // a batch without entities; legalEntities on an import
      {
        name: 'no-entities',
        definitionGroupId: 'Y',
        environment: 'usmf-test',
        direction: 'import',
        template: 't.zip',
        batch: {},
        legalEntities: ['USMF'],
      },
      // a company twice
      {
        name: 'twice',
        definitionGroupId: 'Z',
        environment: 'usmf-test',
        direction: 'export',
        legalEntities: ['USMF', 'usmf'],
      },
    );
    json.chains = [
      {
        name: 'c',
        environment: 'usmf-test',
        projects: ['customers-import', 'customers-export', 'nope', 'nope'],
      },
      { name: 'c', environment: 'elsewhere', projects: [] },
    ];
    const issues = issuesOf(() => loadConfig(baseEnv(json)));
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^DMF_CONFIG\.dataProjects\[2\]\.entities\[1\]\.files: must be a file-name pattern/,
        ),
        expect.stringMatching(
          /^DMF_CONFIG\.dataProjects\[2\]\.batch\.path: must be folders below the project ending in "\{file\}"/,
        ),
        expect.stringMatching(
          /^DMF_CONFIG\.dataProjects\[2\]\.batch\.trigger: must be a file name, not a pattern/,
        ),
        'DMF_CONFIG.dataProjects[2].entities: needs a "template": the raw files fill its entities',
        'DMF_CONFIG.dataProjects[2].entities[1].entity: names an entity twice',
        'DMF_CONFIG.dataProjects[3].batch: needs "entities": which files of a batch fill which entity',
        'DMF_CONFIG.dataProjects[3].legalEntities: applies to exports only',
        'DMF_CONFIG.dataProjects[4].legalEntities[1]: names legal entity "USMF" twice',
        'DMF_CONFIG.chains[0].projects[0]: "customers-import" has no "entities": a chain hands each project the batch files its entities name',
        'DMF_CONFIG.chains[0].projects[1]: "customers-export" is not an import project of environment "usmf-test"',
        'DMF_CONFIG.chains[0].projects[2]: no data project is named "nope"',
        'DMF_CONFIG.chains[0].projects[3]: names project "nope" twice',
        'DMF_CONFIG.chains[1].name: duplicate chain name "c"',
        'DMF_CONFIG.chains[1].environment: no environment is named "elsewhere"',
      ]),
    );
  });

  it('loads DMF_CONFIG_FILE relative to the app root, and reports unreadable or invalid files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmf-config-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'dmf.json'), `\uFEFF${JSON.stringify(baseJson(), null, 2)}`);
    const env = {
      ...baseEnv(),
      DMF_CONFIG: undefined,
      DMF_CONFIG_FILE: 'dmf.json',
      AzureWebJobsScriptRoot: dir,
    };
    const config = loadConfig(env);
    expect(config.configSource).toEqual({ setting: 'DMF_CONFIG_FILE', path: join(dir, 'dmf.json') });
    expect(config.dataProjects).toHaveLength(2);

    expect(issuesOf(() => loadConfig({ ...env, DMF_CONFIG_FILE: 'missing.json' }))[0]).toMatchObject({
      path: 'DMF_CONFIG_FILE',
      message: expect.stringContaining('missing.json') as string,
    });
    await writeFile(join(dir, 'bad.json'), '{ "environments": [ }');
    expect(issuesOf(() => loadConfig({ ...env, DMF_CONFIG_FILE: 'bad.json' }))[0]?.message).toMatch(
      /^not valid JSON/,
    );
    const json = baseJson();
    (json.environments as Record<string, unknown>[])[0]!.name = 'has space';
    await writeFile(join(dir, 'invalid.json'), JSON.stringify(json));
    expect(
      issuesOf(() => loadConfig({ ...env, DMF_CONFIG_FILE: 'invalid.json' })).map((i) => i.path),
    ).toContain('DMF_CONFIG_FILE.environments[0].name');
    expect(issuesOf(() => loadConfig({ ...env, DMF_CONFIG: '{}' }))[0]?.message).toContain('only one of');
  });

  it('reports missing configuration and connections', () => {
    expect(issuesOf(() => loadConfig({})).map((i) => i.path)).toEqual([
      'AzureWebJobsStorage',
      'ServiceBusConnection',
      'DMF_CONFIG',
    ]);
  });

  it('supports identity-based storage and Service Bus connections', () => {
    const config = loadConfig({
      ...baseEnv(),
      AzureWebJobsStorage: undefined,
      AzureWebJobsStorage__accountName: 'contosodmf',
      AzureWebJobsStorage__credential: 'managedidentity',
      ServiceBusConnection: undefined,
      ServiceBusConnection__fullyQualifiedNamespace: 'contoso.servicebus.windows.net',
      DMF_COMMANDS_QUEUE: 'dmf-commands-test',
    });
    expect(config.storage.connection).toEqual({
      kind: 'identity',
      accountName: 'contosodmf',
      blobServiceUri: 'https://contosodmf.blob.core.windows.net',
      tableServiceUri: 'https://contosodmf.table.core.windows.net',
      credential: 'managedidentity',
    });
    // the job index's table endpoint: from a blob URI, given, or refused when neither works
    const identity = { ...baseEnv(), AzureWebJobsStorage: undefined };
    expect(
      loadConfig({
        ...identity,
        AzureWebJobsStorage__blobServiceUri: 'https://c.blob.core.usgovcloudapi.net',
      }).storage.connection,
    ).toMatchObject({ tableServiceUri: 'https://c.table.core.usgovcloudapi.net' });
    expect(
      loadConfig({
        ...identity,
        AzureWebJobsStorage__blobServiceUri: 'https://blobs.contoso.example',
        AzureWebJobsStorage__tableServiceUri: 'https://tables.contoso.example/',
      }).storage.connection,
    ).toMatchObject({ tableServiceUri: 'https://tables.contoso.example' });
    expect(
      issuesOf(() =>
        loadConfig({ ...identity, AzureWebJobsStorage__blobServiceUri: 'https://blobs.contoso.example' }),
      ),
    ).toEqual([expect.objectContaining({ path: 'AzureWebJobsStorage__tableServiceUri' })]);
    expect(
      issuesOf(() =>
        loadConfig({ ...baseEnv(), DMF_JOBS_TABLE: 'dmf-jobs', DMF_JOB_IDS_TABLE: 'DMFJOBS' }),
      ).map((i) => i.path),
    ).toEqual(['DMF_JOBS_TABLE']);
    expect(config.serviceBus).toMatchObject({
      connection: { kind: 'identity', fullyQualifiedNamespace: 'contoso.servicebus.windows.net' },
      commandsQueue: 'dmf-commands-test',
    });
  });
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('auth settings (contract with src/shared/auth)', () => {
  it('accepts every kind', () => {
    const samples: EnvironmentAuthConfig[] = [
      {
        kind: 'clientSecret',
        tenantId: 'contoso.onmicrosoft.com',
        clientId: APP,
        clientSecretSetting: 'S',
        authorityHost: 'https://login.microsoftonline.us',
      },
      {
        kind: 'clientCertificate',
        tenantId: TENANT,
        clientId: APP,
        certificateSetting: 'CERT_PEM',
        sendCertificateChain: true,
      },
      { kind: 'clientCertificate', tenantId: TENANT, clientId: APP, certificatePathSetting: 'CERT_PATH' },
      { kind: 'managedIdentity' },
      { kind: 'managedIdentity', clientId: APP },
      {
        kind: 'workloadIdentity',
        tenantId: TENANT,
        clientId: APP,
        managedIdentityClientId: APP,
        audience: 'api://AzureADTokenExchange',
      },
      {
        kind: 'adfs',
        adfsUrl: 'https://adfs.contoso.com',
        clientId: 'ax-client',
        clientSecretSetting: 'ADFS_SECRET',
        resource: 'https://ax.contoso.com',
      },
    ];
    for (const sample of samples) expect(EnvironmentAuthConfigSchema.parse(sample)).toEqual(sample);
  });

  it('has the shape src/shared/auth expects (both directions)', () => {
    expectTypeOf<EnvironmentAuthConfig>().toExtend<AuthTypes.EnvironmentAuthConfig>();
    expectTypeOf<AuthTypes.EnvironmentAuthConfig>().toExtend<EnvironmentAuthConfig>();
    expectTypeOf<EnvironmentConfig>().toExtend<AuthTypes.AuthEnvironment>();
  });

  it('wants exactly one certificate source and a known kind', () => {
    const both = EnvironmentAuthConfigSchema.safeParse({
      kind: 'clientCertificate',
      tenantId: TENANT,
      clientId: APP,
      certificateSetting: 'A',
      certificatePathSetting: 'B',
    });
    expect(both.success).toBe(false);
    const none = EnvironmentAuthConfigSchema.safeParse({
      kind: 'clientCertificate',
      tenantId: TENANT,
      clientId: APP,
    });
    expect(none.error?.issues[0]?.path).toEqual(['certificateSetting']);
    expect(EnvironmentAuthConfigSchema.safeParse({ kind: 'password' }).success).toBe(false);
  });
});

describe('helpers', () => {
  it('resolveSecret reads the setting and fails clearly', () => {
    expect(resolveSecret('USMF_CLIENT_SECRET', { USMF_CLIENT_SECRET: 's3cret' })).toBe('s3cret');
    expect(() => resolveSecret('MISSING', {})).toThrow(/names an app setting that is not set/);
    expect(() => resolveSecret('KV', { KV: '@Microsoft.KeyVault(VaultName=kv;SecretName=x)' })).toThrow(
      ConfigError,
    );
  });

  it('lists app settings and the settings a config names', () => {
    const names = APP_SETTINGS.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'DMF_CONFIG',
        'DMF_CONFIG_FILE',
        'AzureWebJobsStorage',
        'ServiceBusConnection',
      ]),
    );
    expect(APP_SETTINGS.find((s) => s.name === 'DMF_INBOUND_CONTAINER')).toMatchObject({
      required: false,
      default: DEFAULT_NAMES.inboundContainer,
    });
    expect(referencedSettings(loadConfig(baseEnv()))).toEqual([
      { name: 'USMF_CLIENT_SECRET', path: 'environments[0].auth.clientSecretSetting', secret: true },
    ]);
  });

  it('reads alerts: defaults, the webhook url from its app setting (https, or http to loopback), never echoed', () => {
    const secretUrl =
      'https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=S3CR3T';
    const json = {
      ...baseJson(),
      alerts: [
        { name: 'teams', urlSetting: 'TEAMS_HOOK' },
        {
          name: 'local',
          urlSetting: 'LOCAL_HOOK',
          format: 'json',
          on: ['failure', 'success'],
          environments: ['usmf-test'],
        },
      ],
    };
    const env = { ...baseEnv(json), TEAMS_HOOK: secretUrl, LOCAL_HOOK: 'http://127.0.0.1:8080/hook' };
    const config = loadConfig(env);
    expect(config.alerts).toEqual([
      { name: 'teams', urlSetting: 'TEAMS_HOOK', format: 'teams', on: ['failure'] },
      {
        name: 'local',
        urlSetting: 'LOCAL_HOOK',
        format: 'json',
        on: ['failure', 'success'],
        environments: ['usmf-test'],
      },
    ]);
    expect(referencedSettings(config).filter((r) => r.path.startsWith('alerts'))).toEqual([
      { name: 'TEAMS_HOOK', path: 'alerts[0].urlSetting', secret: true },
      { name: 'LOCAL_HOOK', path: 'alerts[1].urlSetting', secret: true },
    ]);
    const bad = {
      ...baseJson(),
      alerts: [
        { name: 'a', urlSetting: 'PLAIN_HTTP' },
        { name: 'a', urlSetting: 'NOT_A_URL', environments: ['nowhere'] },
        { name: 'b', urlSetting: 'UNSET_HOOK' },
        { name: 'c', urlSetting: 'HOOK', on: [] },
      ],
    };
    const issues = issuesOf(() =>
      loadConfig({
        ...baseEnv(bad),
        PLAIN_HTTP: 'http://hooks.example/x?sig=S3CR3T',
        NOT_A_URL: 'S3CR3T',
        HOOK: secretUrl,
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'DMF_CONFIG.alerts[0].urlSetting', message: expect.stringMatching(/not https/) as string },
        { path: 'DMF_CONFIG.alerts[1].name', message: 'duplicate alert name "a"' },
        {
          path: 'DMF_CONFIG.alerts[1].urlSetting',
          message: expect.stringMatching(/does not hold a url/) as string,
        },
        { path: 'DMF_CONFIG.alerts[1].environments[0]', message: 'no environment is named "nowhere"' },
        { path: 'DMF_CONFIG.alerts[2].urlSetting', message: expect.stringMatching(/not set/) as string },
        { path: 'DMF_CONFIG.alerts[3].on', message: expect.any(String) as string },
      ]),
    );
    expect(JSON.stringify(issues)).not.toContain('S3CR3T');
  });

  it('validates NCRONTAB with 6 fields', () => {
    expect(isValidNcrontab('0 */5 * * * *')).toBe(true);
    expect(isValidNcrontab('0 30 9 * * Mon-Fri')).toBe(true);
    expect(isValidNcrontab('*/5 * * * *')).toBe(false);
    expect(isValidNcrontab('0 61 * * * *')).toBe(false);
  });

  it('describes the JSON as a JSON schema', () => {
    const schema = dmfConfigJsonSchema();
    expect(schema.type).toBe('object');
    expect(JSON.stringify(schema)).toContain('clientSecretSetting');
  });
});
