// The Event Grid custom topic Tokenwarden publishes to: Tokenwarden.SigningKeys.Untrusted when a
// signing key must no longer be trusted, Tokenwarden.TokenAnomaly for each confirmed finding.
// Apps subscribe to it to drop cached keys at once. Publishing needs an Entra token (EventGrid
// Data Sender on this topic, granted to Tokenwarden in rbac.bicep); access keys are disabled.

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
          displayName: 'Signing keys no longer trusted'
          description: 'A signing key must no longer be accepted: drop it from every key cache now.'
        }
        'Tokenwarden.TokenAnomaly': {
          displayName: 'Token anomaly'
          description: 'Tokenwarden confirmed a finding about an access token your app accepted.'
        }
      }
    }
  }
}

output id string = topic.id
output name string = topic.name
output endpoint string = topic.properties.endpoint
