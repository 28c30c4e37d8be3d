// The storage account of the host (AzureWebJobsStorage: Durable Functions state, blob receipts),
// of the app's containers and job index tables, and of the deployment package. Shared keys are off: identity only.

@description('Required. Account name (3-24 lower-case letters and digits).')
param name string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@description('Required. Blob containers to create.')
param containerNames array

@description('Required. Tables to create (the job index).')
param tableNames array

@description('Optional. Days deleted blobs can be restored.')
param deleteRetentionDays int = 7

@description('Required. Lifecycle rules, as [{ name, container, deleteAfterDays }]: each deletes the block blobs of `container` last modified more than `deleteAfterDays` days ago. `name` is the rule name (letters and digits).')
param lifecycleRules array

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    accessTier: 'Hot'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: deleteRetentionDays
    }
  }
}

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [
  for containerName in containerNames: {
    parent: blobService
    name: containerName
    properties: {
      publicAccess: 'None'
    }
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource tables 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = [
  for tableName in tableNames: {
    parent: tableService
    name: tableName
  }
]

// Retention of what the app only writes for people to read later (job results, archived inbound
// files): the platform deletes it after the configured days, once a day. Deleted blobs stay
// restorable for deleteRetentionDays (soft delete above).
resource lifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        for rule in lifecycleRules: {
          enabled: true
          name: rule.name
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${rule.container}/'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: rule.deleteAfterDays
                }
              }
            }
          }
        }
      ]
    }
  }
  dependsOn: [
    containers
  ]
}

// Blob events of this account: Flex Consumption runs only Event Grid blob triggers. The event
// subscriptions need the app's blobs_extension key, which exists only once the deployed app runs,
// so infra/hooks/postdeploy.* creates them after `azd deploy`.
resource blobEvents 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: '${name}-blob-events'
  location: location
  tags: tags
  properties: {
    source: storage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

@description('Account name.')
output name string = storage.name
@description('Event Grid system topic of the account\'s blob events.')
output eventGridSystemTopicName string = blobEvents.name
@description('Blob endpoint, e.g. https://{name}.blob.core.windows.net/.')
output blobEndpoint string = storage.properties.primaryEndpoints.blob
