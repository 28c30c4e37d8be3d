// The Function App on the Flex Consumption plan (Linux, Node 22), running as the user-assigned
// identity. App settings are the union of the `*Settings` objects below; test/infra reads their
// keys, so keep each one an object literal (or a conditional of two object literals).

@description('Required. Function App name.')
param name string

@description('Required. Flex Consumption plan name.')
param planName string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Required. Client id of that identity.')
param identityClientId string

@description('Required. Storage account name (AzureWebJobsStorage__accountName).')
param storageAccountName string

@description('Required. Blob endpoint of the storage account, ending in /.')
param storageBlobEndpoint string

@description('Required. Container the platform deploys the app package from.')
param deploymentContainerName string

@description('Required. Service Bus host name, e.g. sb-abc.servicebus.windows.net.')
param serviceBusFullyQualifiedNamespace string

@description('Required. Key Vault holding F&O secrets.')
param keyVaultName string

@description('Required. Application Insights connection string.')
param applicationInsightsConnectionString string

@description('Optional. Inline configuration JSON (DMF_CONFIG). Wins over dmfConfigFile.')
param dmfConfig string = ''

@description('Optional. Configuration file path relative to the app root (DMF_CONFIG_FILE).')
param dmfConfigFile string = 'dmf.config.json'

@description('Optional. { "APP_SETTING_NAME": "key-vault-secret-name" }: app settings resolved from Key Vault.')
param keyVaultSecretSettings object = {}

@description('Optional. Further plain app settings.')
param extraAppSettings object = {}

@description('Optional. Most instances.')
param maximumInstanceCount int = 100

@description('Optional. Instance memory in MB.')
param instanceMemoryMB int = 2048

@description('Optional. Days the durable history of finished jobs is kept (DMF_PURGE_AFTER_DAYS; 0 keeps it).')
param purgeAfterDays int = 30

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

// Identity-based connections of the host and the app (no keys), telemetry with Entra auth.
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION must not be set on Flex Consumption:
// functionAppConfig.runtime replaces them.
var connectionSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusFullyQualifiedNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // DefaultAzureCredential and tools pick the user-assigned identity by this.
  AZURE_CLIENT_ID: identityClientId
}

// Exactly one of DMF_CONFIG / DMF_CONFIG_FILE: the loader refuses both.
var configSettings = empty(dmfConfig) ? {
  DMF_CONFIG_FILE: dmfConfigFile
} : {
  DMF_CONFIG: dmfConfig
}

// The daily purge of finished Durable Functions instances (src/functions/purgeHistory.ts).
var retentionSettings = {
  DMF_PURGE_AFTER_DAYS: string(purgeAfterDays)
}

var keyVaultReferenceSettings = toObject(items(keyVaultSecretSettings), entry => entry.key, entry => '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${entry.value})')

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'dmf' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references resolve with the user-assigned identity (there is no system identity).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(extraAppSettings, connectionSettings, configSettings, retentionSettings, keyVaultReferenceSettings)
}

@description('Function App name.')
output name string = functionApp.name
@description('Base URL, e.g. https://func-abc.azurewebsites.net.')
output url string = 'https://${functionApp.properties.defaultHostName}'
