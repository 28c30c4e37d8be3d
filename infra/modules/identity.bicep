// The user-assigned identity the Function App runs as: the host's storage and Service Bus
// connections, Key Vault references, App Insights ingestion and (federated) F&O calls all use it.

@description('Required. Name of the identity.')
param name string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

@description('Resource id (for the app identity list, keyVaultReferenceIdentity and deployment storage).')
output id string = identity.id
@description('Name.')
output name string = identity.name
@description('Client (application) id: the __clientId of identity-based connections.')
output clientId string = identity.properties.clientId
@description('Principal (object) id: the subject of role assignments and of a federated credential.')
output principalId string = identity.properties.principalId
