// Key Vault for F&O client secrets and certificates. Access is Azure RBAC only; the app reads
// secrets through Key Vault references resolved with its user-assigned identity.

@description('Required. Vault name (3-24 characters).')
param name string

@description('Required. Region.')
param location string

@description('Optional. Tags.')
param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

@description('Vault name.')
output name string = vault.name
@description('Vault URI, e.g. https://kv-abc.vault.azure.net/.')
output uri string = vault.properties.vaultUri
