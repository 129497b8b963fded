// One of Tokenwarden's two Event Grid custom topics (main.bicep deploys this module twice). Each topic
// carries events in one direction only, because EventGrid Data Sender cannot be narrowed to event types:
// whoever may send to a topic may send every type on it.
//   * outbound: Tokenwarden publishes Tokenwarden.SigningKeys.Untrusted when a signing key must no
//     longer be trusted; apps subscribe to it to drop cached keys at once. Only Tokenwarden's identity
//     may send here (rbac.bicep).
//   * inbound: apps' token-validation middleware sends Tokenwarden.TokenAnomaly, and the alert relay
//     sends Tokenwarden.MonitorAlert (an Azure Monitor alert in the common alert schema); Tokenwarden's
//     `events` function subscribes to exactly these two (postdeploy.bicep, app/topic-subscription.bicep).
//     Only the principals in main.bicep's eventPublisherPrincipalIds may send here (rbac.bicep).
// Publishing needs an Entra token with EventGrid Data Sender on the topic; access keys are disabled.

@description('Topic name.')
param name string

@description('Azure region.')
param location string

param tags object = {}

@description('The event types this topic carries, declared for subscribers: each event type name mapped to { displayName, description } (shared/core/resource_names.py: EVENT_TYPE_*).')
param eventTypes object

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    publicNetworkAccess: 'Enabled'
    dataResidencyBoundary: 'WithinGeopair'
    // What subscribers can expect on this topic.
    eventTypeInfo: {
      kind: 'Inline'
      inlineEventTypes: eventTypes
    }
  }
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
