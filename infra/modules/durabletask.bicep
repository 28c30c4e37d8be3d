// The Durable Task Scheduler backend (main.bicep deploys this module only when durableBackend is
// 'scheduler'): a scheduler, the app's task hub in it, and the app identity's data role on that
// task hub. API version 2025-11-01: the first stable Microsoft.DurableTask API (azure-rest-api-specs
// specification/durabletask), the one the official Azure-Samples/Durable-Task-Scheduler templates use.

@minLength(3)
@maxLength(64)
@description('Required. Scheduler name: 3-64 letters, digits and hyphens (azure-rest-api-specs: ^[a-zA-Z0-9-]{3,64}$).')
param schedulerName string

@minLength(3)
@maxLength(45)
@description('Required. Task hub name, the one the app reads from TASKHUB_NAME. The scheduler accepts 3-64 letters, digits and hyphens; the Durable extension 3-45 letters and digits starting with a letter, so keep it to that.')
param taskHubName string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

@allowed([
  'Consumption'
  'Dedicated'
])
@description('Optional. Scheduler SKU: Consumption (pay per action, up to 500 actions/s, 30 days of data) or Dedicated (capacity units of 2,000 actions/s each, 90 days). See docs/scale.md.')
param skuName string = 'Consumption'

@minValue(1)
@maxValue(3)
@description('Optional. Capacity units of a Dedicated scheduler (1-3; 3 for high availability). Ignored for Consumption.')
param capacity int = 1

@description('Required. Principal (object) id of the app\'s user-assigned identity.')
param appPrincipalId string

@description('Optional. Object id of the person or pipeline running azd, for the scheduler dashboard. Empty: no grant.')
param userPrincipalId string = ''

@description('Optional. Kind of userPrincipalId.')
param userPrincipalType string = 'User'

// Built-in role definition id (the same in every tenant; the official Azure-Samples DTS templates,
// Learn "Azure built-in roles for Integration").
var roleIds = {
  durableTaskDataContributor: '0ad04412-c4d5-4796-b79c-f76d14c8d402'
}

resource scheduler 'Microsoft.DurableTask/schedulers@2025-11-01' = {
  name: schedulerName
  location: location
  tags: tags
  properties: {
    // Required by the API; an empty list admits nobody. Flex Consumption has no fixed outbound
    // addresses, so the network is open and access is by identity only: the scheduler accepts no
    // keys, just Entra tokens of identities holding a Durable Task role (Learn, "Configure managed
    // identity for Durable Task Scheduler").
    ipAllowlist: [
      '0.0.0.0/0'
    ]
    sku: skuName == 'Dedicated' ? {
      name: 'Dedicated'
      capacity: capacity
    } : {
      name: 'Consumption'
    }
  }
}

resource taskHub 'Microsoft.DurableTask/schedulers/taskHubs@2025-11-01' = {
  parent: scheduler
  name: taskHubName
}

// DURABLE_TASK_SCHEDULER_CONNECTION_STRING (Authentication=ManagedIdentity): the app's worker and
// client. Learn names Durable Task Data Contributor for most apps (the worker role cannot start,
// query or purge instances, which the app's triggers, jobs API and purge timer do), and
// recommends task hub scope over scheduler scope.
resource appDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(taskHub.id, appPrincipalId, roleIds.durableTaskDataContributor)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.durableTaskDataContributor)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The scheduler dashboard signs in with the user's own identity and needs a data role too.
resource userDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(taskHub.id, userPrincipalId, roleIds.durableTaskDataContributor)
  scope: taskHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roleIds.durableTaskDataContributor)
    principalId: userPrincipalId
    principalType: userPrincipalType
  }
}

@description('gRPC endpoint of the scheduler, e.g. https://dts-abc.westeurope.durabletask.io (the Endpoint of the connection string).')
output endpoint string = scheduler.properties.endpoint
@description('Task hub name.')
output taskHubName string = taskHub.name
@description('Dashboard of the task hub.')
output dashboardUrl string = taskHub.properties.dashboardUrl
