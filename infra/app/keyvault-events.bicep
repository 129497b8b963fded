// The Event Grid system topic of the Key Vault that holds app signing keys. Deployed into the vault's
// own resource group. A source can have only one system topic: if the vault already has one, pass its
// name and this deployment adopts it. The subscription that delivers its key events to the Function
// App is created after the code is deployed (postdeploy.bicep), since the endpoint must exist first.

@description('Resource id of the Key Vault.')
param keyVaultResourceId string

@description('System topic name (an existing system topic of this vault, or a new name).')
param systemTopicName string

param tags object = {}

resource vault 'Microsoft.KeyVault/vaults@2024-11-01' existing = {
  name: last(split(keyVaultResourceId, '/'))
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: systemTopicName
  location: vault.location
  tags: tags
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

output id string = systemTopic.id
output name string = systemTopic.name
