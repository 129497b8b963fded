// Tokenwarden's Event Grid custom topic, both ways:
//   * outbound: Tokenwarden publishes Tokenwarden.SigningKeys.Untrusted when a signing key must no
//     longer be trusted; apps subscribe to it to drop cached keys at once;
//   * inbound: apps' token-validation middleware sends Tokenwarden.TokenAnomaly, and the alert relay
//     sends Tokenwarden.MonitorAlert (an Azure Monitor alert in the common alert schema); Tokenwarden's
//     `events` function subscribes to exactly these two (postdeploy.bicep, app/topic-subscription.bicep).
// Publishing needs an Entra token with EventGrid Data Sender on this topic (rbac.bicep: Tokenwarden's
// identity and the principals in eventPublisherPrincipalIds); access keys are disabled.

@description('Topic name.')
param name string

@description('Azure region.')
param location string

param tags object = {}

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
    // What subscribers can expect on this topic (shared/resource_names.py: EVENT_TYPE_*).
    eventTypeInfo: {
      kind: 'Inline'
      inlineEventTypes: {
        'Tokenwarden.SigningKeys.Untrusted': {
          displayName: 'Signing keys no longer trusted (outbound)'
          description: 'Published by Tokenwarden: a signing key must no longer be accepted. Apps subscribe and drop it from every key cache now.'
        }
        'Tokenwarden.TokenAnomaly': {
          displayName: 'Token anomaly (inbound)'
          description: 'Sent by an app\'s token-validation middleware: one token it found suspect, as a TokenValidation_CL row with its FailureReason. Tokenwarden\'s events function receives it.'
        }
        'Tokenwarden.MonitorAlert': {
          displayName: 'Azure Monitor alert (inbound)'
          description: 'An Azure Monitor alert in the common alert schema, relayed onto this topic. Tokenwarden\'s events function receives it.'
        }
      }
    }
  }
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
