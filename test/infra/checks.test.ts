/**
 * The Bicep reader and every cross-check can fail: each check is run on the real infra/ with one
 * thing broken in memory (a role removed, shared keys on, a container gone, …) and must name it.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_SETTINGS, DEFAULT_NAMES, SETTING_NAMES } from '../../src/shared/config/index.js';
import { BicepSyntaxError, isExpr, parseBicep, valueAt, type BicepDeclaration } from './bicep.js';
import * as checks from './checks.js';
import { hostJsonFor, type DurableBackend } from '../../scripts/durable-backend.js';

const infraDir = join(import.meta.dirname, '..', '..', 'infra');
const sources = new Map<string, string>([
  ['main.bicep', readFileSync(join(infraDir, 'main.bicep'), 'utf8')],
  ...readdirSync(join(infraDir, 'modules'))
    .filter((f) => f.endsWith('.bicep'))
    .map((f) => [`modules/${f}`, readFileSync(join(infraDir, 'modules', f), 'utf8')] as [string, string]),
]);

/** The real infra with `from` replaced by `to` in `file` (which must contain `from`). */
function infra(edit?: { file: string; from: string | RegExp; to: string }): checks.BicepFiles {
  const out = new Map<string, BicepDeclaration[]>();
  for (const [file, text] of sources) {
    let t = text;
    if (edit?.file === file) {
      expect(
        typeof edit.from === 'string' ? t.includes(edit.from) : edit.from.test(t),
        `${file} has ${String(edit.from)}`,
      ).toBe(true);
      t = t.replace(edit.from, edit.to);
    }
    out.set(file, parseBicep(t));
  }
  return out;
}

function settingsOf(files: checks.BicepFiles): checks.AppSettingsFound {
  const r = checks.findAppSettings(files);
  expect(r.problems).toEqual([]);
  return r.found as checks.AppSettingsFound;
}

function roleProblems(files: checks.BicepFiles): string[] {
  const found = settingsOf(files);
  const identity = checks.checkSameIdentity(files, found);
  return [
    ...identity.problems,
    ...checks.checkRoles(
      checks.identityConnections(found.settings, found.computed).connections,
      checks.roleAssignments(files),
      identity.appPrincipal,
    ),
  ];
}

describe('Bicep reader', () => {
  it('reads declarations, decorators, conditions, loops, literals and expressions', () => {
    const decls = parseBicep(`
targetScope = 'subscription' // comment
/* block
   comment */
@minLength(1)
@description('Required. It\\'s a name.')
param name string

@allowed([
  'a'
  'b'
])
param kind string = 'a'

var list = [
  'x'
  'y-\${name}'
  3
]
var obj = { a: 1, 'b-c': true }
var pick = empty(kind) ? {
  ONE: 'one'
} : {
  TWO: name
}
var text = '''
multi
'''

resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: name
}

resource c 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for n in list: if (n != 'x') {
  name: n
  properties: {
    publicAccess: 'None'
  }
}]

module m 'modules/x.bicep' = if (!empty(name)) {
  name: 'm'
  params: {
    '\${name}': {}
    value: sa.properties.primaryEndpoints.blob
  }
}

output o string = 'https://\${name}'
`);
    expect(decls.map((d) => `${d.kind}:${d.name}`)).toEqual([
      'targetScope:',
      'param:name',
      'param:kind',
      'var:list',
      'var:obj',
      'var:pick',
      'var:text',
      'resource:sa',
      'resource:c',
      'module:m',
      'output:o',
    ]);
    const [scope, name, kind, list, obj, pick, text, sa, c, m, o] = decls;
    expect(scope?.value).toBe('subscription');
    expect(name?.decorators).toEqual(['@minLength(1)', "@description('Required. It\\'s a name.')"]);
    expect(name?.value).toBeUndefined();
    expect(kind?.value).toBe('a');
    expect(kind?.decorators[0]).toContain("'b'");
    expect(Array.isArray(list?.value) && list.value.length).toBe(3);
    expect(isExpr((list?.value as unknown[])[1] as never)).toBe(true);
    expect(obj?.value).toEqual({ a: 1, 'b-c': true });
    expect(isExpr(pick?.value) && pick.value.literals).toEqual([
      { ONE: 'one' },
      { TWO: { expr: 'name', literals: [] } },
    ]);
    expect(text?.value).toBe('multi\n');
    expect(sa).toMatchObject({
      type: 'Microsoft.Storage/storageAccounts',
      apiVersion: '2023-05-01',
      existing: true,
    });
    expect(c).toMatchObject({ loop: 'n in list', condition: "n != 'x'" });
    expect(valueAt(c?.value, 'properties.publicAccess')).toBe('None');
    expect(m).toMatchObject({ type: 'modules/x.bicep', condition: '!empty(name)' });
    expect(Object.keys(valueAt(m?.value, 'params') as object)).toEqual(['${name}', 'value']);
    expect(o).toMatchObject({ type: 'string', value: { expr: "'https://${name}'" } });
  });

  it('reports where the text cannot be read', () => {
    expect(() => parseBicep("var a = {\n  b: 'unterminated\n}")).toThrow(BicepSyntaxError);
    expect(() => parseBicep("var a = {\n  b: 'unterminated\n}")).toThrow(/line 2/);
    expect(() => parseBicep('var a = {\n  b: 1\n')).toThrow(/expected an object key|missing/);
  });
});

describe('each cross-check fails when infra/ misses something', () => {
  it('the real infra passes every check (the baseline the cases below break)', () => {
    const files = infra();
    const found = settingsOf(files);
    expect(checks.checkRequiredSettings(APP_SETTINGS, new Set(found.settings.keys()), new Set())).toEqual([]);
    expect(roleProblems(files)).toEqual([]);
    expect(checks.checkHardening(files, found, '22')).toEqual([]);
    expect(checks.checkParamDescriptions(files)).toEqual([]);
    const used = checks.usedNames(DEFAULT_NAMES, SETTING_NAMES, found.settings);
    expect(used.problems).toEqual([]);
    expect(used.names.filter((n) => n.kind === 'table').map((n) => n.name)).toEqual(['dmfjobs', 'dmfjobids']);
    expect(checks.checkNames(used.names, checks.declaredNames(files).declared)).toEqual([]);
  });

  it('a required setting missing from the Bicep and from user-settings.json', () => {
    const files = infra({
      file: 'modules/functionapp.bicep',
      from: /\n {2}ServiceBusConnection__fullyQualifiedNamespace: .*/,
      to: '',
    });
    const found = settingsOf(files);
    expect(checks.checkRequiredSettings(APP_SETTINGS, new Set(found.settings.keys()), new Set())).toEqual([
      expect.stringMatching(
        /required app setting ServiceBusConnection \| ServiceBusConnection__fullyQualifiedNamespace is neither set/,
      ),
    ]);
    // … and fine again when documented as user-provided.
    expect(
      checks.checkRequiredSettings(
        APP_SETTINGS,
        new Set(found.settings.keys()),
        new Set(['ServiceBusConnection']),
      ),
    ).toEqual([]);
  });

  it('a *Settings var that the appsettings resource does not apply does not count', () => {
    const files = infra({
      file: 'modules/functionapp.bicep',
      from: 'union(extraAppSettings, connectionSettings, configSettings, retentionSettings, durableSettings, keyVaultReferenceSettings)',
      to: 'union(extraAppSettings, connectionSettings, retentionSettings, durableSettings, keyVaultReferenceSettings)',
    });
    const found = settingsOf(files);
    expect(checks.checkRequiredSettings(APP_SETTINGS, new Set(found.settings.keys()), new Set())).toEqual([
      expect.stringContaining('DMF_CONFIG | DMF_CONFIG_FILE'),
    ]);
  });

  it('a config key naming a setting without a documented way to supply it', () => {
    expect(
      checks.checkReferencedSettingKeys(['clientSecretSetting', 'newSetting'], {
        clientSecretSetting: 'Key Vault',
      }),
    ).toEqual([expect.stringContaining('config key "newSetting" names an app setting')]);
    expect(checks.checkReferencedSettingKeys([], {})).toHaveLength(1);
  });

  it('a container, table, queue or topic the app uses that is not declared', () => {
    const noArchive = infra({ file: 'main.bicep', from: "\n  'dmf-archive'", to: '' });
    const found = settingsOf(noArchive);
    const used = checks.usedNames(DEFAULT_NAMES, SETTING_NAMES, found.settings).names;
    expect(checks.checkNames(used, checks.declaredNames(noArchive).declared)).toEqual([
      'blob container "dmf-archive" (DMF_ARCHIVE_CONTAINER (default)) is not declared in the Bicep',
    ]);
    const noJobIds = infra({ file: 'main.bicep', from: "\n  'dmfjobids'", to: '' });
    expect(checks.checkNames(used, checks.declaredNames(noJobIds).declared)).toEqual([
      'table "dmfjobids" (DMF_JOB_IDS_TABLE (default)) is not declared in the Bicep',
    ]);
    const renamedQueue = infra({ file: 'main.bicep', from: "name: 'dmf-commands'", to: "name: 'commands'" });
    expect(checks.checkNames(used, checks.declaredNames(renamedQueue).declared)).toEqual([
      expect.stringContaining(
        'Service Bus queue "dmf-commands" (DMF_COMMANDS_QUEUE (default)) is not declared',
      ),
    ]);
    const noDeliveryCount = infra({ file: 'main.bicep', from: /\n {4}maxDeliveryCount: 5/, to: '' });
    expect(checks.checkNames(used, checks.declaredNames(noDeliveryCount).declared)).toEqual([
      expect.stringContaining('no literal maxDeliveryCount'),
    ]);
    const noSubscription = infra({ file: 'main.bicep', from: /\n {6}'all-events'/, to: '' });
    expect(checks.checkNames(used, checks.declaredNames(noSubscription).declared)).toEqual([
      expect.stringContaining('has no subscription'),
    ]);
    const noTopics = infra({
      file: 'modules/servicebus.bicep',
      from: "resource topicResources 'Microsoft.ServiceBus/namespaces/topics@",
      to: "resource topicResources 'Microsoft.ServiceBus/namespaces/notTopics@",
    });
    expect(checks.declaredNames(noTopics).problems).toEqual([
      'no Microsoft.ServiceBus/namespaces/topics resource is declared',
    ]);
  });

  it('a name overridden by an app setting is looked up under its new value', () => {
    const used = checks.usedNames(
      DEFAULT_NAMES,
      SETTING_NAMES,
      new Map([['DMF_INBOUND_CONTAINER', 'incoming']]),
    ).names;
    expect(used.find((u) => u.source === 'DMF_INBOUND_CONTAINER')?.name).toBe('incoming');
    expect(checks.usedNames({ somethingElse: 'x' }, {}, new Map()).problems).toEqual([
      expect.stringContaining('DEFAULT_NAMES.somethingElse: unknown kind'),
    ]);
  });

  it('the job index reaches its tables with the app identity, with either durable backend', () => {
    const jobIndexProblems = (files: checks.BicepFiles): string[] => {
      const found = settingsOf(files);
      const identity = checks.checkSameIdentity(files, found);
      return checks.checkJobIndexAccess(found, checks.roleAssignments(files), identity.appPrincipal);
    };
    expect(jobIndexProblems(infra())).toEqual([]);
    // the role only while Durable Functions needs tables (the Azure Storage backend)
    expect(
      jobIndexProblems(
        infra({
          file: 'modules/roles.bicep',
          from: "resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
          to: "resource appTableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (durableBackend == 'azureStorage') {",
        }),
      ),
    ).toEqual([
      expect.stringContaining('the job index needs an unconditional "Storage Table Data Contributor"'),
    ]);
    expect(
      jobIndexProblems(
        infra({
          file: 'modules/functionapp.bicep',
          from: '  AzureWebJobsStorage__accountName: storageAccountName\n',
          to: '  AzureWebJobsStorage__blobServiceUri: storageAccountName\n',
        }),
      ),
    ).toEqual([
      expect.stringContaining("with durableBackend 'azureStorage' neither AzureWebJobsStorage__accountName"),
      expect.stringContaining("with durableBackend 'scheduler' neither AzureWebJobsStorage__accountName"),
    ]);
  });

  it('a missing, conditional, mis-scoped or other-principal role assignment', () => {
    expect(
      roleProblems(
        infra({
          file: 'modules/roles.bicep',
          from: 'roleIds.storageTableDataContributor)\n    principalId',
          to: 'roleIds.storageBlobDataContributor)\n    principalId',
        }),
      ),
    ).toEqual([
      expect.stringContaining(
        'needs an unconditional "Storage Table Data Contributor" role assignment for appPrincipalId',
      ),
    ]);
    expect(
      roleProblems(
        infra({
          file: 'modules/roles.bicep',
          from: "resource appServiceBusSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
          to: "resource appServiceBusSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (false) {",
        }),
      ),
    ).toEqual([expect.stringContaining('"Azure Service Bus Data Sender"')]);
    expect(
      roleProblems(
        infra({
          file: 'modules/roles.bicep',
          from: /scope: vault\n( {2}properties: \{\n {4}roleDefinitionId: [^\n]*keyVaultSecretsUser)/,
          to: 'scope: storage\n$1',
        }),
      ),
    ).toEqual([
      expect.stringContaining(
        '"Key Vault Secrets User" role assignment for appPrincipalId scoped to a Microsoft.KeyVault/vaults',
      ),
    ]);
    expect(
      roleProblems(
        infra({
          file: 'modules/roles.bicep',
          from: 'roleIds.monitoringMetricsPublisher)\n    principalId: appPrincipalId',
          to: 'roleIds.monitoringMetricsPublisher)\n    principalId: userPrincipalId',
        }),
      ),
    ).toEqual([expect.stringContaining('"Monitoring Metrics Publisher"')]);
  });

  it('connections, role assignments and Key Vault references that use different identities', () => {
    expect(
      roleProblems(
        infra({
          file: 'main.bicep',
          from: 'identityClientId: identity.outputs.clientId',
          to: 'identityClientId: otherIdentity.outputs.clientId',
        }),
      ),
    ).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          'runs as identity.outputs.id but its connections use otherIdentity.outputs.clientId',
        ),
      ]),
    );
    expect(
      roleProblems(
        infra({
          file: 'modules/functionapp.bicep',
          from: /\n {4}keyVaultReferenceIdentity: identityId/,
          to: '',
        }),
      ),
    ).toEqual([expect.stringContaining('keyVaultReferenceIdentity must be identityId')]);
    expect(
      roleProblems(
        infra({
          file: 'main.bicep',
          from: /appPrincipalId: identity\.outputs\.principalId/g,
          to: "appPrincipalId: 'someone-else'",
        }),
      ),
    ).toEqual(
      expect.arrayContaining([expect.stringContaining('no module receives identity.outputs.principalId')]),
    );
    // One of the modules making the app's grants (roles, durabletask) gets another principal.
    expect(
      roleProblems(
        infra({
          file: 'main.bicep',
          from: 'appPrincipalId: identity.outputs.principalId',
          to: "appPrincipalId: 'someone-else'",
        }),
      ),
    ).toEqual([expect.stringContaining("module roles gets appPrincipalId = 'someone-else'")]);
  });

  it('a connection whose client id is not the one the others use', () => {
    expect(
      roleProblems(
        infra({
          file: 'modules/functionapp.bicep',
          from: 'ServiceBusConnection__clientId: identityClientId',
          to: "ServiceBusConnection__clientId: '00000000-0000-0000-0000-000000000001'",
        }),
      ),
    ).toEqual([expect.stringContaining('ServiceBusConnection__clientId is')]);
  });

  it('an identity-based connection without credential or client id', () => {
    const found = settingsOf(
      infra({ file: 'modules/functionapp.bicep', from: /\n {2}ServiceBusConnection__clientId: .*/, to: '' }),
    );
    expect(checks.identityConnections(found.settings).problems).toEqual([
      expect.stringContaining('ServiceBusConnection__clientId is not set'),
    ]);
    const noCredential = settingsOf(
      infra({
        file: 'modules/functionapp.bicep',
        from: "AzureWebJobsStorage__credential: 'managedidentity'",
        to: "AzureWebJobsStorage__credential: 'connectionstring'",
      }),
    );
    expect(checks.identityConnections(noCredential.settings).problems).toEqual([
      expect.stringContaining("AzureWebJobsStorage__credential must be 'managedidentity'"),
    ]);
  });

  it('shared keys on, local auth on, another runtime, a forbidden setting, key-based deployment storage', () => {
    const check = (edit: Parameters<typeof infra>[0]): string[] => {
      const files = infra(edit);
      return checks.checkHardening(files, settingsOf(files), '22');
    };
    expect(
      check({
        file: 'modules/storage.bicep',
        from: 'allowSharedKeyAccess: false',
        to: 'allowSharedKeyAccess: true',
      }),
    ).toEqual([expect.stringContaining('must set properties.allowSharedKeyAccess: false')]);
    expect(
      check({
        file: 'modules/servicebus.bicep',
        from: 'disableLocalAuth: true',
        to: 'disableLocalAuth: false',
      }),
    ).toEqual([expect.stringContaining('disableLocalAuth')]);
    expect(
      check({
        file: 'modules/keyvault.bicep',
        from: 'enableRbacAuthorization: true',
        to: 'enableRbacAuthorization: false',
      }),
    ).toEqual([expect.stringContaining('enableRbacAuthorization')]);
    expect(check({ file: 'modules/functionapp.bicep', from: "version: '22'", to: "version: '20'" })).toEqual([
      expect.stringContaining("functionAppConfig.runtime must be { name: 'node', version: '22' }"),
    ]);
    expect(
      check({ file: 'modules/functionapp.bicep', from: "tier: 'FlexConsumption'", to: "tier: 'Dynamic'" }),
    ).toEqual([expect.stringContaining('no Flex Consumption plan')]);
    expect(
      check({
        file: 'modules/functionapp.bicep',
        from: '  AZURE_CLIENT_ID: identityClientId',
        to: "  AZURE_CLIENT_ID: identityClientId\n  FUNCTIONS_WORKER_RUNTIME: 'node'",
      }),
    ).toEqual([expect.stringContaining('FUNCTIONS_WORKER_RUNTIME must not be set')]);
    expect(
      check({
        file: 'modules/functionapp.bicep',
        from: "type: 'UserAssignedIdentity'",
        to: "type: 'StorageAccountConnectionString'",
      }),
    ).toEqual([expect.stringContaining('deployment.storage.authentication.type')]);
  });

  it('a parameter without a Required/Optional description, or one that contradicts its default', () => {
    expect(
      checks.checkParamDescriptions(
        infra({
          file: 'modules/identity.bicep',
          from: "@description('Required. Name of the identity.')\n",
          to: '',
        }),
      ),
    ).toEqual([
      "modules/identity.bicep: param name needs @description('Required. …') or @description('Optional. …')",
    ]);
    expect(
      checks.checkParamDescriptions(
        infra({
          file: 'modules/keyvault.bicep',
          from: "@description('Optional. Tags.')",
          to: "@description('Required. Tags.')",
        }),
      ),
    ).toEqual(['modules/keyvault.bicep: param tags is described "Required" but has a default']);
  });

  describe('bindings of registered functions', () => {
    const files = infra();
    const found = settingsOf(files);
    const options: checks.CheckBindingsOptions = {
      settings: found.settings,
      catalog: APP_SETTINGS,
      declared: checks.declaredNames(files).declared,
      connections: checks.identityConnections(found.settings, found.computed).connections,
      eventGrid: { systemTopic: true, hookPairs: new Map([['onBlob', 'dmf-inbound']]) },
    };
    const fn = (name: string, binding: Record<string, unknown>): checks.RegisteredFunctionInfo => ({
      name,
      bindings: { b1: binding },
    });

    it('accepts bindings to provisioned things', () => {
      expect(
        checks.checkBindings(
          [
            fn('onCommand', {
              type: 'serviceBusTrigger',
              direction: 'in',
              queueName: '%DMF_COMMANDS_QUEUE%',
              connection: 'ServiceBusConnection',
            }),
            fn('onEvent', {
              type: 'serviceBusTrigger',
              direction: 'in',
              topicName: 'dmf-events',
              subscriptionName: 'all-events',
              connection: 'ServiceBusConnection',
            }),
            fn('onBlob', {
              type: 'blobTrigger',
              direction: 'in',
              path: 'dmf-inbound/{name}',
              connection: 'AzureWebJobsStorage',
              source: 'EventGrid',
            }),
            fn('web', { type: 'httpTrigger', direction: 'in' }),
          ],
          options,
        ),
      ).toEqual([]);
    });

    it('names each binding that needs something infra does not provide', () => {
      expect(
        checks.checkBindings(
          [
            fn('a', {
              type: 'serviceBusTrigger',
              queueName: 'other-queue',
              connection: 'ServiceBusConnection',
            }),
            fn('b', {
              type: 'serviceBus',
              topicName: '%NO_SUCH_SETTING%',
              connection: 'ServiceBusConnection',
            }),
            fn('c', {
              type: 'serviceBusTrigger',
              topicName: 'dmf-events',
              subscriptionName: 'mine',
              connection: 'ServiceBusConnection',
            }),
            fn('d', { type: 'serviceBusTrigger', queueName: 'dmf-commands', connection: 'OtherBus' }),
            fn('e', { type: 'blob', path: 'nowhere/x.json', connection: 'AzureWebJobsStorage' }),
            fn('f', { type: 'blobTrigger', path: 'dmf-inbound/{name}', connection: 'AzureWebJobsStorage' }),
            fn('g', {
              type: 'blobTrigger',
              path: 'dmf-results/{name}',
              connection: 'AzureWebJobsStorage',
              source: 'EventGrid',
            }),
            fn('h', { type: 'cosmosDBTrigger' }),
          ],
          options,
        ),
      ).toEqual([
        expect.stringContaining(
          'function a, binding b1 (serviceBusTrigger): queue "other-queue" is not declared',
        ),
        expect.stringContaining('function b, binding b1 (serviceBus): %NO_SUCH_SETTING% is neither set'),
        expect.stringContaining(
          'function c, binding b1 (serviceBusTrigger): subscription "mine" of topic "dmf-events"',
        ),
        expect.stringContaining(
          'function d, binding b1 (serviceBusTrigger): connection "OtherBus" is not an identity-based serviceBus connection',
        ),
        expect.stringContaining('function e, binding b1 (blob): container "nowhere" is not declared'),
        expect.stringContaining(
          'function f, binding b1 (blobTrigger): Flex Consumption runs only Event Grid blob triggers',
        ),
        expect.stringContaining('function g, binding b1 (blobTrigger): the postdeploy hooks'),
        expect.stringContaining('binding type "cosmosDBTrigger" is unknown'),
      ]);
    });

    it("reads the hooks' blob trigger lists and notices when they disagree", () => {
      expect([
        ...checks.blobTriggerHookPairs({
          sh: ': "${DMF_BLOB_TRIGGERS-a=x b=y}"',
          ps1: "if ($env:DMF_BLOB_TRIGGERS) { $env:DMF_BLOB_TRIGGERS } else { 'b=y a=x' }",
        }).pairs,
      ]).toEqual([
        ['a', 'x'],
        ['b', 'y'],
      ]);
      expect(
        checks.blobTriggerHookPairs({
          sh: ': "${DMF_BLOB_TRIGGERS-a=x}"',
          ps1: "$env:DMF_BLOB_TRIGGERS } else { 'a=z' }",
        }).problems,
      ).toHaveLength(1);
    });
  });

  describe('Service Bus trigger roles (scaling reads the queue length)', () => {
    const trigger: checks.RegisteredFunctionInfo = {
      name: 'onCommand',
      bindings: {
        b1: {
          type: 'serviceBusTrigger',
          direction: 'in',
          queueName: '%DMF_COMMANDS_QUEUE%',
          connection: 'ServiceBusConnection',
        },
      },
    };
    const problemsOf = (files: checks.BicepFiles): string[] => {
      const found = settingsOf(files);
      return checks.checkServiceBusTriggerRoles([trigger], {
        files,
        settings: found.settings,
        catalog: APP_SETTINGS,
        assignments: checks.roleAssignments(files),
        appPrincipal: checks.checkSameIdentity(files, found).appPrincipal,
      });
    };

    it('accepts Data Owner on the trigger queue (the real infra)', () => {
      expect(problemsOf(infra())).toEqual([]);
    });

    it('names a trigger whose queue lacks Data Owner, or whose Data Owner is on another queue', () => {
      expect(
        problemsOf(
          infra({
            file: 'modules/roles.bicep',
            from: 'roleIds.serviceBusDataOwner)\n      principalId',
            to: 'roleIds.serviceBusDataSender)\n      principalId',
          }),
        ),
      ).toEqual([
        expect.stringContaining(
          'function onCommand, binding b1 (serviceBusTrigger): the app needs an unconditional "Azure Service Bus Data Owner" role assignment on queue "dmf-commands"',
        ),
      ]);
      expect(
        problemsOf(
          infra({
            file: 'main.bicep',
            from: /serviceBusTriggerQueueNames: \[\n\s+'dmf-commands'/,
            to: "serviceBusTriggerQueueNames: [\n      'other-queue'",
          }),
        ),
      ).toEqual([expect.stringContaining('queue "dmf-commands" or the namespace')]);
    });

    it('accepts Data Owner on the whole namespace', () => {
      const files = infra();
      const found = settingsOf(files);
      const owner = checks
        .roleAssignments(files)
        .filter((a) => a.symbol === 'appServiceBusSender')
        .map((a) => ({ ...a, role: 'Azure Service Bus Data Owner' as const }));
      expect(
        checks.checkServiceBusTriggerRoles([trigger], {
          files,
          settings: found.settings,
          catalog: APP_SETTINGS,
          assignments: owner,
          appPrincipal: checks.checkSameIdentity(files, found).appPrincipal,
        }),
      ).toEqual([]);
    });
  });

  describe('lifecycle rules and the durable purge', () => {
    const containers = { expire: ['dmf-results', 'dmf-archive'], keep: ['dmf-inbound', 'dmf-templates'] };
    const check = (files: checks.BicepFiles): string[] => {
      const found = checks.lifecycleRules(files);
      return [...found.problems, ...checks.checkLifecycle(found.rules, containers)];
    };

    it('the real infra: results after 90 days, archive after 30, both parameters', () => {
      expect(check(infra())).toEqual([]);
      expect(
        checks.lifecycleRules(infra()).rules.map((r) => [r.container, r.daysParam, r.defaultDays, r.minDays]),
      ).toEqual([
        ['dmf-results', 'resultsRetentionDays', 90, 1],
        ['dmf-archive', 'archiveRetentionDays', 30, 1],
      ]);
    });

    it('a container without its rule, a rule on inbound files, fixed days, a conditional policy, another action', () => {
      expect(
        check(
          infra({ file: 'main.bicep', from: "container: 'dmf-archive'", to: "container: 'dmf-inbound'" }),
        ),
      ).toEqual([
        'container "dmf-archive" needs exactly one lifecycle rule, has 0',
        'container "dmf-inbound" holds files the app still reads: no lifecycle rule may delete from it',
      ]);
      expect(
        check(
          infra({
            file: 'main.bicep',
            from: 'deleteAfterDays: resultsRetentionDays',
            to: 'deleteAfterDays: 90',
          }),
        ),
      ).toEqual([expect.stringContaining('its days must be a main.bicep param')]);
      expect(
        check(
          infra({
            file: 'modules/storage.bicep',
            from: "managementPolicies@2023-05-01' = {",
            to: "managementPolicies@2023-05-01' = if (!empty(checks.lifecycleRules)) {",
          }),
        ),
      ).toEqual([expect.stringContaining('must not be conditional')]);
      expect(
        check(
          infra({
            file: 'modules/storage.bicep',
            from: 'daysAfterModificationGreaterThan: rule.deleteAfterDays',
            to: 'daysAfterCreationGreaterThan: rule.deleteAfterDays',
          }),
        ),
      ).toEqual([expect.stringContaining('daysAfterModificationGreaterThan: rule.deleteAfterDays')]);
      expect(
        check(
          infra({
            file: 'main.bicep',
            from: /@minValue\(1\)\n(@maxValue\(36500\)\n@description\('Optional\. Days the job results)/,
            to: '$1',
          }),
        ),
      ).toEqual([expect.stringContaining('needs @minValue(1)')]);
    });

    it('a purge that keeps the durable history longer than the results, or no purge setting', () => {
      const purge = (files: checks.BicepFiles): string[] =>
        checks.checkPurgeSetting(files, settingsOf(files), 'DMF_PURGE_AFTER_DAYS', 90).problems;
      expect(purge(infra())).toEqual([]);
      expect(
        purge(
          infra({
            file: 'main.bicep',
            from: 'param purgeAfterDays int = 30',
            to: 'param purgeAfterDays int = 120',
          }),
        ),
      ).toEqual([
        expect.stringContaining('purgeAfterDays defaults to 120 days, but job results are kept 90 days'),
      ]);
      expect(
        purge(
          infra({
            file: 'main.bicep',
            from: 'param purgeAfterDays int = 30',
            to: 'param purgeAfterDays int = 0',
          }),
        ),
      ).toEqual([expect.stringContaining('0 (keep forever)')]);
      expect(
        purge(infra({ file: 'modules/functionapp.bicep', from: /\n {2}DMF_PURGE_AFTER_DAYS: .*/, to: '' })),
      ).toEqual([expect.stringContaining('app setting DMF_PURGE_AFTER_DAYS is not set')]);
    });
  });

  it('host.json without the production settings', () => {
    const good = JSON.parse(readFileSync(join(infraDir, '..', 'host.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(checks.checkHostJson(good)).toEqual([]);
    const sampled = structuredClone(good) as {
      logging: { applicationInsights: { samplingSettings: { excludedTypes: string } } };
    };
    sampled.logging.applicationInsights.samplingSettings.excludedTypes = 'Request';
    expect(checks.checkHostJson(sampled)).toEqual([
      expect.stringContaining('sampling must exclude Exception'),
    ]);
    const oldBundle = structuredClone(good) as { extensionBundle: { version: string } };
    oldBundle.extensionBundle.version = '[3.*, 4.0.0)';
    expect(checks.checkHostJson(oldBundle)).toEqual([
      expect.stringContaining('host.json extensionBundle.version'),
    ]);
    const badHub = structuredClone(good) as { extensions: { durableTask: { hubName: string } } };
    badHub.extensions.durableTask.hubName = 'dmf-hub';
    expect(checks.checkHostJson(badHub)).toEqual([expect.stringContaining('task hub name')]);
  });

  describe('the durable backend: both shapes', () => {
    const hostJson = JSON.parse(readFileSync(join(infraDir, '..', 'host.json'), 'utf8')) as unknown;
    const parameters = JSON.parse(readFileSync(join(infraDir, 'main.parameters.json'), 'utf8')) as {
      parameters: Record<string, unknown>;
    };
    const shape = (
      backend: DurableBackend,
      files: checks.BicepFiles = infra(),
      options: { hostJson?: unknown; parameters?: unknown } = {},
    ): string[] => {
      const found = settingsOf(files);
      return checks.checkDurableBackend(files, found, {
        backend,
        hostJson: options.hostJson ?? hostJsonFor(backend, hostJson),
        parameters: options.parameters ?? parameters,
        appPrincipal: checks.checkSameIdentity(files, found).appPrincipal,
      });
    };
    const both = (files: checks.BicepFiles): Record<DurableBackend, string[]> => ({
      azureStorage: shape('azureStorage', files),
      scheduler: shape('scheduler', files),
    });

    it('the real infra and the host.json of each shape pass (the baseline the cases below break)', () => {
      expect(both(infra())).toEqual({ azureStorage: [], scheduler: [] });
    });

    it('the parameter missing, without scheduler, with another default, or not fed from DMF_DURABLE_BACKEND', () => {
      expect(
        shape(
          'azureStorage',
          infra({ file: 'main.bicep', from: 'param durableBackend string', to: 'param backend string' }),
        ),
      ).toEqual([expect.stringContaining('no param durableBackend')]);
      expect(
        shape(
          'azureStorage',
          infra({ file: 'main.bicep', from: "  'azureStorage'\n  'scheduler'\n", to: "  'azureStorage'\n" }),
        ),
      ).toEqual([expect.stringContaining("must be @allowed(['azureStorage' 'scheduler'])")]);
      expect(
        shape(
          'azureStorage',
          infra({
            file: 'main.bicep',
            from: "param durableBackend string = 'azureStorage'",
            to: "param durableBackend string = 'scheduler'",
          }),
        ),
      ).toEqual([expect.stringContaining("must default to 'azureStorage'")]);
      const unfed = structuredClone(parameters);
      delete unfed.parameters.durableBackend;
      expect(shape('azureStorage', infra(), { parameters: unfed })).toEqual([
        expect.stringContaining(
          'main.parameters.json must pass durableBackend "${DMF_DURABLE_BACKEND=azureStorage}"',
        ),
      ]);
    });

    it('scheduler resources deployed for azureStorage too, under another condition, or missing', () => {
      const always = both(
        infra({
          file: 'main.bicep',
          from: "module durableTask 'modules/durabletask.bicep' = if (durableBackend == 'scheduler') {",
          to: "module durableTask 'modules/durabletask.bicep' = {",
        }),
      );
      expect(always.scheduler).toEqual([]);
      expect(always.azureStorage).toEqual([
        expect.stringContaining(
          "scheduler (Microsoft.DurableTask/schedulers) is deployed when durableBackend is 'azureStorage'",
        ),
        expect.stringContaining('taskHub (Microsoft.DurableTask/schedulers/taskHubs) is deployed'),
      ]);
      expect(
        shape(
          'scheduler',
          infra({
            file: 'main.bicep',
            from: "if (durableBackend == 'scheduler') {",
            to: 'if (!empty(principalId)) {',
          }),
        ),
      ).toEqual(
        expect.arrayContaining([
          expect.stringContaining(
            "module durableTask (modules/durabletask.bicep) must be deployed if (durableBackend == 'scheduler')",
          ),
        ]),
      );
      expect(
        shape(
          'scheduler',
          infra({
            file: 'modules/durabletask.bicep',
            from: "resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@",
            to: "resource taskHub 'Microsoft.DurableTask/schedulers/hubs@",
          }),
        ),
      ).toEqual(expect.arrayContaining([expect.stringContaining('found 1 and 0')]));
    });

    it('no data role for the app identity, a conditional one, another role, or one for another principal', () => {
      const missing: unknown = expect.stringContaining(
        '"Durable Task Data Contributor" role assignment for appPrincipalId',
      );
      for (const edit of [
        {
          from: 'roleIds.durableTaskDataContributor)\n    principalId: appPrincipalId',
          to: "'00000000-0000-0000-0000-000000000000')\n    principalId: appPrincipalId",
        },
        {
          from: "resource appDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {",
          to: "resource appDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (false) {",
        },
        { from: 'principalId: appPrincipalId', to: 'principalId: userPrincipalId' },
      ]) {
        const result = both(infra({ file: 'modules/durabletask.bicep', ...edit }));
        // Azure Storage needs no scheduler role: only the scheduler shape notices.
        expect(result).toEqual({ azureStorage: [], scheduler: [missing] });
      }
    });

    it('scheduler settings set for azureStorage, missing for scheduler, on another identity, or pointing elsewhere', () => {
      const inverted = both(
        infra({
          file: 'modules/functionapp.bicep',
          from: "var durableSettings = durableBackend == 'scheduler' ? {",
          to: "var durableSettings = durableBackend == 'azureStorage' ? {",
        }),
      );
      expect(inverted.azureStorage).toEqual([
        expect.stringContaining(
          "DURABLE_TASK_SCHEDULER_CONNECTION_STRING is set when durableBackend is 'azureStorage'",
        ),
        expect.stringContaining("TASKHUB_NAME is set when durableBackend is 'azureStorage'"),
      ]);
      expect(inverted.scheduler).toEqual(
        expect.arrayContaining([
          expect.stringContaining('DURABLE_TASK_SCHEDULER_CONNECTION_STRING must be'),
          expect.stringContaining(
            'storageProvider.connectionStringName (DURABLE_TASK_SCHEDULER_CONNECTION_STRING) must name an app setting',
          ),
        ]),
      );
      expect(
        shape(
          'scheduler',
          infra({
            file: 'modules/functionapp.bicep',
            from: 'Authentication=ManagedIdentity;ClientID=${identityClientId}',
            to: 'Authentication=ManagedIdentity;ClientID=${otherClientId}',
          }),
        ),
      ).toEqual([
        expect.stringContaining('uses ClientID=${otherClientId}, the other connections identityClientId'),
      ]);
      expect(
        shape(
          'scheduler',
          infra({
            file: 'main.bicep',
            from: "durableTaskSchedulerEndpoint: durableBackend == 'scheduler' ? durableTask.outputs.endpoint : ''",
            to: "durableTaskSchedulerEndpoint: 'https://elsewhere.durabletask.io'",
          }),
        ),
      ).toEqual([
        expect.stringContaining(
          "the Function App's durableTaskSchedulerEndpoint must be the scheduler module's outputs.endpoint",
        ),
      ]);
      expect(
        shape(
          'scheduler',
          infra({
            file: 'main.bicep',
            from: '    durableTaskHubName: durableTaskHubName\n',
            to: "    durableTaskHubName: 'OtherHub'\n",
          }),
        ),
      ).toEqual([
        expect.stringContaining(
          "TASKHUB_NAME must be the name the task hub resource gets (app: 'OtherHub', task hub: durableTaskHubName)",
        ),
      ]);
    });

    it("a host.json that does not fit its shape: Azure Storage's for the scheduler and the other way round", () => {
      expect(shape('scheduler', infra(), { hostJson })).toEqual([
        "host.json (scheduler): storageProvider.type must be 'azureManaged'",
        expect.stringContaining('storageProvider.connectionStringName (undefined) must name an app setting'),
        'host.json (scheduler): Azure Storage settings left in storageProvider: maxQueuePollingInterval, partitionCount',
        expect.stringContaining('hubName must be %SETTING%'),
        expect.stringContaining('extensionBundle.version must be [4.32.0 or later, 5.0.0)'),
      ]);
      expect(shape('azureStorage', infra(), { hostJson: hostJsonFor('scheduler', hostJson) })).toEqual([
        'host.json (azureStorage): storageProvider.type is azureManaged',
        expect.stringContaining('must use AzureWebJobsStorage (is DURABLE_TASK_SCHEDULER_CONNECTION_STRING)'),
        expect.stringContaining('partitionCount must be set'),
        expect.stringContaining('maxQueuePollingInterval must be at most 00:00:10'),
        'host.json (azureStorage): hubName must be a literal task hub name',
      ]);
      const slowPolling = structuredClone(hostJson) as {
        extensions: { durableTask: { storageProvider: { maxQueuePollingInterval: string } } };
      };
      slowPolling.extensions.durableTask.storageProvider.maxQueuePollingInterval = '00:00:30';
      expect(shape('azureStorage', infra(), { hostJson: slowPolling })).toEqual([
        expect.stringContaining('maxQueuePollingInterval must be at most 00:00:10 on Flex Consumption'),
      ]);
      const oldBundle = hostJsonFor('scheduler', hostJson) as { extensionBundle: { version: string } };
      oldBundle.extensionBundle.version = '[4.29.0, 5.0.0)';
      expect(shape('scheduler', infra(), { hostJson: oldBundle })).toEqual([
        expect.stringContaining('is [4.29.0, 5.0.0)'),
      ]);
    });

    it('a tuned durableTask value that the scale document does not explain', () => {
      const doc = [
        '| `partitionCount` | 4 | why |',
        '| `maxQueuePollingInterval` | 00:00:10 | why |',
        '| `maxConcurrentActivityFunctions` | 10 | why |',
        '| `maxConcurrentOrchestratorFunctions` | 10 | why |',
        '| `extendedSessionsEnabled` | false | why |',
      ].join('\n');
      expect(checks.checkDurableTuningDocumented(hostJson, doc, 'scale.md')).toEqual([]);
      expect(
        checks.checkDurableTuningDocumented(
          hostJson,
          doc.replace('| 00:00:10 |', '| 00:00:30 |'),
          'scale.md',
        ),
      ).toEqual([
        "scale.md does not give host.json's durableTask `maxQueuePollingInterval` = 00:00:10 and its reason",
      ]);
      expect(checks.checkDurableTuningDocumented({}, doc, 'scale.md')).toHaveLength(1);
    });
  });
});
