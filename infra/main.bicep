// dmf-functions on Azure: one resource group holding the Function App (Flex Consumption, Node 22),
// its storage, Service Bus, Key Vault, monitoring and the user-assigned identity the app runs as.
// No keys anywhere: every connection is identity-based and shared-key / local auth is off.
// test/infra/cross-check.test.ts reads this file and the modules: keep names as literals here.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Required. Name of the azd environment (AZURE_ENV_NAME). Names the resource group and seeds the resource token.')
param environmentName string

@minLength(1)
@description('Required. Azure region of every resource (AZURE_LOCATION). Must offer the Flex Consumption plan.')
param location string

@description('Optional. Object id of the person or pipeline running azd (AZURE_PRINCIPAL_ID). It may then write Key Vault secrets and upload blobs. Empty: no grant.')
param principalId string = ''

@allowed([
  'User'
  'ServicePrincipal'
])
@description('Optional. Kind of principalId.')
param principalType string = 'User'

@description('Optional. Path of the DMF configuration JSON file inside the deployed app, relative to the app root (app setting DMF_CONFIG_FILE). Ignored when dmfConfig is set.')
param dmfConfigFile string = 'dmf.config.json'

@description('Optional. The DMF configuration JSON itself (app setting DMF_CONFIG). When set it is used instead of dmfConfigFile. It never holds secrets, only the names of the app settings that do.')
param dmfConfig string = ''

@description('Optional. F&O secrets held in Key Vault, as { "APP_SETTING_NAME": "key-vault-secret-name" }. Each becomes an app setting holding a Key Vault reference; the names are the clientSecretSetting / certificateSetting values of the configuration JSON.')
param keyVaultSecretSettings object = {}

@description('Optional. Further plain (non-secret) app settings, as { "NAME": "value" }.')
param extraAppSettings object = {}

@minValue(40)
@maxValue(1000)
@description('Optional. Most instances the Function App scales out to (Flex Consumption accepts 40 to 1000; the app limits F&O calls itself).')
param maximumInstanceCount int = 100

@allowed([
  512
  2048
  4096
])
@description('Optional. Memory of each Function App instance, in MB.')
param instanceMemoryMB int = 2048

@minValue(1)
@maxValue(36500)
@description('Optional. Days the job results (container dmf-results: result.json, copies of F&O error files) are kept; the storage lifecycle policy deletes older ones. Keep it at least purgeAfterDays, so every job the jobs API no longer lists still has its result blob.')
param resultsRetentionDays int = 90

@minValue(1)
@maxValue(36500)
@description('Optional. Days processed inbound files stay in the archive container (dmf-archive) before the storage lifecycle policy deletes them.')
param archiveRetentionDays int = 30

@minValue(0)
@maxValue(3650)
@description('Optional. Days the Durable Functions history of completed, failed and terminated jobs is kept (app setting DMF_PURGE_AFTER_DAYS; 0 keeps it forever). A daily timer purges older instances; their results stay in dmf-results.')
param purgeAfterDays int = 30

@allowed([
  'azureStorage'
  'scheduler'
])
@description('Optional. Durable Functions backend (azd: DMF_DURABLE_BACKEND, which also picks the host.json npm run package ships): azureStorage (default; the storage account above) or scheduler (a Durable Task Scheduler and task hub, for throughput beyond Azure Storage\'s). Switching starts with an empty task hub. See docs/scale.md.')
param durableBackend string = 'azureStorage'

@allowed([
  'Consumption'
  'Dedicated'
])
@description('Optional. Durable Task Scheduler SKU when durableBackend is scheduler: Consumption (pay per action, up to 500 actions/s, data kept up to 30 days) or Dedicated (fixed monthly price per capacity unit of 2,000 actions/s, up to 90 days).')
param schedulerSkuName string = 'Consumption'

@minValue(1)
@maxValue(3)
@description('Optional. Capacity units of a Dedicated scheduler (1-3; high availability needs 3). Ignored for Consumption.')
param schedulerCapacity int = 1

@description('Optional. E-mail address alerted when functions fail. Empty: the alert rule is created without an action group.')
param alertEmail string = ''

@description('Optional. Tags added to every resource.')
param tags object = {}

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
// The Durable Task Scheduler's task hub: the same name as host.json's hubName (the Azure Storage
// task hub), so both backends show one name in logs and dashboards.
var durableTaskHubName = 'DmfFunctions'
var allTags = union(tags, { 'azd-env-name': environmentName })

// Blob containers the app uses (DEFAULT_NAMES in src/shared/config/settings.ts) plus the one the
// platform deploys the app package from.
var dmfContainerNames = [
  'dmf-inbound'
  'dmf-archive'
  'dmf-results'
  'dmf-outbound'
  'dmf-recurring-inbound'
  'dmf-templates'
]
var deploymentContainerName = 'app-package'

// Tables of the job index (DEFAULT_NAMES jobsTable, jobIdsTable): the app creates them when
// missing too, but declared here they exist from the first deployment on.
var dmfTableNames = [
  'dmfjobs'
  'dmfjobids'
]

// What the storage lifecycle policy deletes, and after how long (never inbound or template files).
var blobLifecycleRules = [
  {
    name: 'deleteOldResults'
    container: 'dmf-results'
    deleteAfterDays: resultsRetentionDays
  }
  {
    name: 'deleteOldArchive'
    container: 'dmf-archive'
    deleteAfterDays: archiveRetentionDays
  }
]

// Service Bus entities the app uses (DEFAULT_NAMES.commandsQueue / eventsTopic).
var serviceBusQueues = [
  {
    name: 'dmf-commands'
    maxDeliveryCount: 5
    lockDuration: 'PT5M'
  }
]
var serviceBusTopics = [
  {
    name: 'dmf-events'
    subscriptions: [
      'all-events'
    ]
  }
]

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: allTags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
    location: location
    tags: allTags
    alertEmail: alertEmail
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: allTags
    containerNames: concat(dmfContainerNames, [deploymentContainerName])
    tableNames: dmfTableNames
    lifecycleRules: blobLifecycleRules
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-${resourceToken}'
    location: location
    tags: allTags
    queues: serviceBusQueues
    topics: serviceBusTopics
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: allTags
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  scope: rg
  params: {
    appPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    serviceBusNamespaceName: serviceBus.outputs.name
    // The queue of the command trigger (importCommandTrigger, DMF_COMMANDS_QUEUE).
    serviceBusTriggerQueueNames: [
      'dmf-commands'
    ]
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

// Only for durableBackend 'scheduler': the scheduler, its task hub and the app identity's role on it.
module durableTask 'modules/durabletask.bicep' = if (durableBackend == 'scheduler') {
  name: 'durabletask'
  scope: rg
  params: {
    schedulerName: 'dts-${resourceToken}'
    taskHubName: durableTaskHubName
    location: location
    tags: allTags
    skuName: schedulerSkuName
    capacity: schedulerCapacity
    appPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: allTags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    deploymentContainerName: deploymentContainerName
    serviceBusFullyQualifiedNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultName: keyVault.outputs.name
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    dmfConfig: dmfConfig
    dmfConfigFile: dmfConfigFile
    keyVaultSecretSettings: keyVaultSecretSettings
    extraAppSettings: extraAppSettings
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    purgeAfterDays: purgeAfterDays
    durableBackend: durableBackend
    // ARM evaluates only the branch of if() the condition picks, so the module's output is read
    // only when the module is deployed.
    durableTaskSchedulerEndpoint: durableBackend == 'scheduler' ? durableTask.outputs.endpoint : ''
    durableTaskHubName: durableTaskHubName
  }
  // The host starts as soon as the app exists: its identity must already hold its data roles.
  dependsOn: [
    roles
    durableTask
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_URL string = functionApp.outputs.url
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_STORAGE_BLOB_ENDPOINT string = storage.outputs.blobEndpoint
output AZURE_EVENTGRID_SYSTEM_TOPIC_NAME string = storage.outputs.eventGridSystemTopicName
output SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output SERVICEBUS_NAMESPACE_NAME string = serviceBus.outputs.name
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URI string = keyVault.outputs.uri
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.applicationInsightsConnectionString
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.logAnalyticsName
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output DURABLE_BACKEND string = durableBackend
output DURABLE_TASK_SCHEDULER_ENDPOINT string = durableBackend == 'scheduler' ? durableTask.outputs.endpoint : ''
output DURABLE_TASK_DASHBOARD_URL string = durableBackend == 'scheduler' ? durableTask.outputs.dashboardUrl : ''
