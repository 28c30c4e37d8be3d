/**
 * infra/ ↔ app cross-check (no network, no Bicep CLI): what the app needs — its settings catalog,
 * container/queue/topic names, config keys naming secrets, and the bindings of every function it
 * registers — must be provisioned by infra/, with identity-based connections and their roles.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  APP_SETTINGS,
  DEFAULT_NAMES,
  DEFAULT_PURGE_AFTER_DAYS,
  EnvironmentAuthConfigSchema,
  SETTING_NAMES,
  loadConfig,
  referencedSettings,
} from '../../src/shared/config/index.js';
import { loadAppFunctions } from './app-functions.js';
import { objectLiterals, textOf, valueAt } from './bicep.js';
import {
  UserSettingsSchema,
  blobTriggerHookPairs,
  checkBindings,
  checkDurableBackend,
  checkDurableTuningDocumented,
  checkHardening,
  checkLifecycle,
  checkPurgeSetting,
  checkServiceBusTriggerRoles,
  checkHostJson,
  checkJobIndexAccess,
  checkNames,
  checkParamDescriptions,
  checkReferencedSettingKeys,
  checkRequiredSettings,
  checkRoles,
  checkSameIdentity,
  declaredNames,
  findAppSettings,
  identityConnections,
  lifecycleRules,
  loadBicepFiles,
  resourcesOfType,
  roleAssignments,
  settingKeysOfAuthSchema,
  usedNames,
  type AppSettingsFound,
  type BicepFiles,
  type RegisteredFunctionInfo,
} from './checks.js';
import { DURABLE_BACKENDS, hostJsonFor } from '../../scripts/durable-backend.js';

const root = join(import.meta.dirname, '..', '..');
const infraDir = join(root, 'infra');
/** The Node major the app targets on Azure (package.json engines says >=22). */
const NODE_VERSION = '22';

let files: BicepFiles;
let found: AppSettingsFound;
const userSettings = UserSettingsSchema.parse(
  JSON.parse(readFileSync(join(infraDir, 'user-settings.json'), 'utf8')),
);

beforeAll(() => {
  files = loadBicepFiles(infraDir);
  const result = findAppSettings(files);
  expect(result.problems).toEqual([]);
  found = result.found as AppSettingsFound;
});

describe('infra/ provides what the app needs', () => {
  it('parses every Bicep file, with main.bicep at subscription scope and modules for each part', () => {
    expect([...files.keys()].sort()).toEqual(
      expect.arrayContaining([
        'main.bicep',
        'modules/functionapp.bicep',
        'modules/identity.bicep',
        'modules/keyvault.bicep',
        'modules/monitoring.bicep',
        'modules/roles.bicep',
        'modules/servicebus.bicep',
        'modules/storage.bicep',
      ]),
    );
    const scope = files.get('main.bicep')?.find((d) => d.kind === 'targetScope');
    expect(scope?.value).toBe('subscription');
  });

  it('sets every app setting the config schema requires, or lists it as user-provided', () => {
    const problems = checkRequiredSettings(
      APP_SETTINGS,
      new Set(found.settings.keys()),
      new Set(Object.keys(userSettings.settings)),
    );
    expect(problems).toEqual([]);
  });

  it('never sets both DMF_CONFIG and DMF_CONFIG_FILE in one branch (the loader refuses both)', () => {
    const functionApp = files.get(found.file) ?? [];
    const configVars = functionApp.filter(
      (d) => d.kind === 'var' && textOf(d.value).includes(SETTING_NAMES.config),
    );
    expect(configVars.length).toBeGreaterThan(0);
    for (const v of configVars) {
      for (const lit of objectLiterals(v.value))
        expect(SETTING_NAMES.config in lit && SETTING_NAMES.configFile in lit, `var ${v.name}`).toBe(false);
    }
  });

  it('says how every config key that names an app setting (clientSecretSetting, …) is supplied on Azure', () => {
    const keys = settingKeysOfAuthSchema(EnvironmentAuthConfigSchema);
    expect(keys).toContain('clientSecretSetting');
    expect(checkReferencedSettingKeys(keys, userSettings.referencedSettingKeys)).toEqual([]);
  });

  it('declares every container, queue and topic the app uses', () => {
    const used = usedNames(DEFAULT_NAMES, SETTING_NAMES, found.settings);
    expect(used.problems).toEqual([]);
    const declared = declaredNames(files);
    expect(declared.problems).toEqual([]);
    expect(checkNames(used.names, declared.declared)).toEqual([]);
  });

  it('gives every identity-based connection its roles, for the identity the app runs as', () => {
    const identity = checkSameIdentity(files, found);
    expect(identity.problems).toEqual([]);
    const connections = identityConnections(found.settings, found.computed);
    expect(connections.problems).toEqual([]);
    expect(connections.connections.map((c) => c.kind).sort()).toEqual(
      expect.arrayContaining(['keyVaultReference', 'serviceBus', 'storage']),
    );
    expect(checkRoles(connections.connections, roleAssignments(files), identity.appPrincipal)).toEqual([]);
  });

  it('lets the job index reach its tables with the app identity, with either durable backend', () => {
    const identity = checkSameIdentity(files, found);
    expect(checkJobIndexAccess(found, roleAssignments(files), identity.appPrincipal)).toEqual([]);
  });

  it('turns shared keys and local auth off, and runs on Flex Consumption with Node 22', () => {
    expect(checkHardening(files, found, NODE_VERSION)).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      engines?: { node?: string };
    };
    expect(pkg.engines?.node ?? '').toMatch(new RegExp(`(^|[^0-9])${NODE_VERSION}(\\.|$)`));
  });

  it('documents every parameter as Required or Optional, and main.parameters.json feeds the required ones', () => {
    expect(checkParamDescriptions(files)).toEqual([]);
    const params = JSON.parse(readFileSync(join(infraDir, 'main.parameters.json'), 'utf8')) as {
      parameters: Record<string, unknown>;
    };
    const mainParams = (files.get('main.bicep') ?? []).filter((d) => d.kind === 'param');
    for (const name of Object.keys(params.parameters))
      expect(
        mainParams.map((p) => p.name),
        `main.parameters.json sets unknown param ${name}`,
      ).toContain(name);
    for (const p of mainParams.filter((x) => x.value === undefined))
      expect(
        Object.keys(params.parameters),
        `required param ${p.name} is not in main.parameters.json`,
      ).toContain(p.name);
  });

  it('outputs every value docs/deploy.md reads with `azd env get-value`', () => {
    const docs = readFileSync(join(root, 'docs', 'deploy.md'), 'utf8');
    const wanted = [
      ...new Set([...docs.matchAll(/azd env get-value ([A-Z0-9_]+)/g)].map((m) => m[1] as string)),
    ];
    expect(wanted.length).toBeGreaterThan(3);
    const outputs = (files.get('main.bicep') ?? []).filter((d) => d.kind === 'output').map((d) => d.name);
    for (const name of wanted) expect(outputs, `docs/deploy.md reads ${name}`).toContain(name);
  });

  it('tags the Function App with the service name azure.yaml deploys to', () => {
    const yaml = readFileSync(join(root, 'azure.yaml'), 'utf8');
    const service = /^services:\s*\n(?:\s*#.*\n)*\s+([A-Za-z0-9-]+):/m.exec(yaml)?.[1];
    expect(service).toBeDefined();
    expect(yaml).toMatch(/^\s+host: function$/m);
    expect(yaml).toContain('run: infra/hooks/postdeploy.sh');
    expect(yaml).toContain('run: infra/hooks/postdeploy.ps1');
    const site = resourcesOfType(files, 'Microsoft.Web/sites')[0];
    expect(textOf(valueAt(site?.value, 'tags'))).toContain(`'azd-service-name': '${service ?? ''}'`);
  });

  it('deletes old job results and archived files after configurable days, and never files the app still reads', () => {
    const name = (key: keyof typeof DEFAULT_NAMES): string => {
      const set = found.settings.get(SETTING_NAMES[key]);
      return typeof set === 'string' ? set : DEFAULT_NAMES[key];
    };
    const { rules, problems } = lifecycleRules(files);
    expect(problems).toEqual([]);
    expect(
      checkLifecycle(rules, {
        expire: [name('resultsContainer'), name('archiveContainer')],
        keep: [
          name('inboundContainer'),
          name('recurringInboundContainer'),
          name('templatesContainer'),
          name('outboundContainer'),
        ],
      }),
    ).toEqual([]);
  });

  it('purges the durable history after DMF_PURGE_AFTER_DAYS (a parameter), no later than results expire', () => {
    const results = lifecycleRules(files).rules.find((r) => r.container === DEFAULT_NAMES.resultsContainer);
    const purge = checkPurgeSetting(files, found, SETTING_NAMES.purgeAfterDays, results?.defaultDays);
    expect(purge.problems).toEqual([]);
    // The Bicep default is the app's own default.
    expect(purge.days).toBe(DEFAULT_PURGE_AFTER_DAYS);
  });

  it('keeps host.json production-ready (task hub, bundle range, timeout, sampling that keeps failures)', () => {
    expect(checkHostJson(JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')))).toEqual([]);
  });

  it.each(DURABLE_BACKENDS)(
    'runs on the %s durable backend: resources, role, app settings and the host.json the package ships agree',
    (backend) => {
      const hostJson = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as unknown;
      expect(
        checkDurableBackend(files, found, {
          backend,
          hostJson: hostJsonFor(backend, hostJson),
          parameters: JSON.parse(readFileSync(join(infraDir, 'main.parameters.json'), 'utf8')) as unknown,
          appPrincipal: checkSameIdentity(files, found).appPrincipal,
        }),
      ).toEqual([]);
    },
  );

  it('explains every tuned durableTask value of host.json in docs/scale.md', () => {
    const hostJson = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8')) as unknown;
    const doc = readFileSync(join(root, 'docs', 'scale.md'), 'utf8');
    expect(checkDurableTuningDocumented(hostJson, doc, 'docs/scale.md')).toEqual([]);
  });

  describe('the functions the app registers', () => {
    let bindingProblems: string[] = [];
    let functions: RegisteredFunctionInfo[] = [];
    const FLEX_BLOB = 'Flex Consumption runs only Event Grid blob triggers';

    beforeAll(async () => {
      const sample = readFileSync(join(root, 'samples', 'dmf.config.json'), 'utf8');
      // Settings as on Azure: the Bicep's literals, placeholders for expressions, the sample config.
      const env: Record<string, string> = {};
      for (const [k, v] of found.settings)
        env[k] = typeof v === 'string' ? v : `placeholder-${k.toLowerCase()}`;
      env[SETTING_NAMES.storageAccountName] = 'stplaceholder';
      env[SETTING_NAMES.serviceBusNamespace] = 'sb-placeholder.servicebus.windows.net';
      delete env[SETTING_NAMES.configFile];
      env[SETTING_NAMES.config] = sample;
      const sampleConfig = loadConfig(
        {
          DMF_CONFIG: sample,
          AzureWebJobsStorage: 'UseDevelopmentStorage=true',
          ServiceBusConnection: 'Endpoint=sb://x/',
        },
        { checkSecretSettings: false },
      );
      for (const r of referencedSettings(sampleConfig)) env[r.name] = 'placeholder-secret';
      functions = await loadAppFunctions({ appRoot: root, env });
      expect(functions.length).toBeGreaterThan(0);
      const hooks = blobTriggerHookPairs({
        sh: readFileSync(join(infraDir, 'hooks', 'postdeploy.sh'), 'utf8'),
        ps1: readFileSync(join(infraDir, 'hooks', 'postdeploy.ps1'), 'utf8'),
      });
      expect(hooks.problems).toEqual([]);
      bindingProblems = checkBindings(functions, {
        settings: found.settings,
        catalog: APP_SETTINGS,
        declared: declaredNames(files).declared,
        connections: identityConnections(found.settings, found.computed).connections,
        eventGrid: {
          systemTopic: resourcesOfType(files, 'Microsoft.EventGrid/systemTopics').length > 0,
          hookPairs: hooks.pairs,
        },
      });
    });

    it('bind only to provisioned connections, settings, queues, topics, subscriptions and containers', () => {
      expect(bindingProblems.filter((p) => !p.includes(FLEX_BLOB))).toEqual([]);
    });

    it('register blob triggers with source EventGrid (Flex Consumption has no polling blob trigger)', () => {
      expect(bindingProblems.filter((p) => p.includes(FLEX_BLOB))).toEqual([]);
    });

    it("give the app Data Owner on each Service Bus trigger's queue, so the scale controller reads its length", () => {
      const identity = checkSameIdentity(files, found);
      expect(
        functions.some((f) => Object.values(f.bindings).some((b) => b.type === 'serviceBusTrigger')),
      ).toBe(true);
      expect(
        checkServiceBusTriggerRoles(functions, {
          files,
          settings: found.settings,
          catalog: APP_SETTINGS,
          assignments: roleAssignments(files),
          appPrincipal: identity.appPrincipal,
        }),
      ).toEqual([]);
    });

    it('include the daily purge timer of the durable history, with a durable client', () => {
      const timer = functions.find((f) => f.name === 'purgeHistoryTimer');
      const bindings = Object.values(timer?.bindings ?? {});
      expect(bindings.map((b) => b.type).sort()).toEqual(['durableClient', 'timerTrigger']);
      expect(bindings.find((b) => b.type === 'timerTrigger')?.schedule).toMatch(/^0 \d+ \d+ \* \* \*$/);
    });
  });

  // A pre-flight for a real deployment: the config file azd ships must name only settings infra sets.
  const userConfig = join(root, 'dmf.config.json');
  it.skipIf(!existsSync(userConfig))(
    'maps every secret setting named by ./dmf.config.json (skipped when the repo root has none)',
    () => {
      const text = readFileSync(userConfig, 'utf8');
      const config = loadConfig(
        {
          DMF_CONFIG: text,
          AzureWebJobsStorage: 'UseDevelopmentStorage=true',
          ServiceBusConnection: 'Endpoint=sb://x/',
        },
        { checkSecretSettings: false },
      );
      const parameters = JSON.parse(readFileSync(join(infraDir, 'main.parameters.json'), 'utf8')) as {
        parameters: Record<string, { value?: unknown }>;
      };
      const provided = new Set([
        ...Object.keys(parameters.parameters.keyVaultSecretSettings?.value ?? {}),
        ...Object.keys(parameters.parameters.extraAppSettings?.value ?? {}),
        ...Object.keys(userSettings.settings),
      ]);
      for (const r of referencedSettings(config))
        expect([...provided], `${r.path} names ${r.name}: map it in keyVaultSecretSettings`).toContain(
          r.name,
        );
    },
  );
});
