// Delivers the Key Vault's key events to Tokenwarden's `events` function. Deployed into the vault's
// resource group after the code is deployed (postdeploy.bicep): Event Grid validates the endpoint
// when the subscription is created and fails with "Destination endpoint not found" before that.

@description('Name of the vault\'s Event Grid system topic (created by keyvault-events.bicep).')
param systemTopicName string

@description('Resource id of the Tokenwarden Function App.')
param functionAppResourceId string

@description('Name of the Event Grid trigger function.')
param functionName string = 'events'

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource toTokenwarden 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: 'tokenwarden-key-events'
  properties: {
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppResourceId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.KeyNewVersionCreated'
        'Microsoft.KeyVault.KeyNearExpiry'
        'Microsoft.KeyVault.KeyExpired'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output id string = toTokenwarden.id
