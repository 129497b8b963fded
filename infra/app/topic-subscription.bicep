// Delivers chosen event types from one Event Grid topic to Tokenwarden's `events` function: the Key
// Vault's key events (its system topic) and the events on Tokenwarden's inbound custom topic
// (Tokenwarden.TokenAnomaly from apps' validation middleware, Tokenwarden.MonitorAlert from the alert
// relay). Deployed into the topic's resource group after the code is deployed (postdeploy.bicep):
// Event Grid validates the endpoint when the subscription is created and fails with "Destination
// endpoint not found" before that.

@description('Kind of topic: \'system\' (an Azure service\'s system topic) or \'custom\' (an Event Grid custom topic).')
@allowed([
  'system'
  'custom'
])
param topicKind string

@description('Name of the topic, in this resource group.')
param topicName string

@description('Name of the event subscription.')
param subscriptionName string

@description('The event types delivered; every other type on the topic is left out.')
@minLength(1)
param includedEventTypes array

@description('Resource id of the Tokenwarden Function App.')
param functionAppResourceId string

@description('Name of the Event Grid trigger function.')
param functionName string = 'events'

var isSystemTopic = topicKind == 'system'

// One delivery shape for both kinds: one event per invocation, retried for a day.
var subscriptionProperties = {
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
    includedEventTypes: includedEventTypes
  }
  retryPolicy: {
    maxDeliveryAttempts: 30
    eventTimeToLiveInMinutes: 1440
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = if (isSystemTopic) {
  name: topicName
}

resource customTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = if (!isSystemTopic) {
  name: topicName
}

resource systemTopicSubscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (isSystemTopic) {
  parent: systemTopic
  name: subscriptionName
  properties: subscriptionProperties
}

resource customTopicSubscription 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = if (!isSystemTopic) {
  parent: customTopic
  name: subscriptionName
  properties: subscriptionProperties
}

output id string = isSystemTopic ? systemTopicSubscription.id : customTopicSubscription.id
