// A new Log Analytics workspace with Microsoft Sentinel enabled, for deployments that do not bring
// their own. With an existing workspace this module is not deployed: Sentinel must already be on it.

@description('Workspace name.')
param name string

@description('Azure region.')
param location string

param tags object = {}

@description('Interactive retention. Sentinel includes 90 days at no extra retention charge.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 90

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    retentionInDays: retentionInDays
    sku: {
      name: 'PerGB2018'
    }
    features: {
      // Resource-context or workspace permissions (the recommended access-control mode).
      enableLogAccessUsingOnlyResourcePermissions: true
      // Ingestion only through data collection rules with Entra tokens, never the shared workspace key.
      disableLocalAuth: true
    }
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

resource sentinel 'Microsoft.SecurityInsights/onboardingStates@2025-09-01' = {
  scope: workspace
  name: 'default'
  properties: {}
}

output id string = workspace.id
output name string = workspace.name
