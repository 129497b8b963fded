// Application Insights for the Function App, workspace-based, with local (instrumentation key)
// authentication disabled: telemetry is accepted only with an Entra token of the app's identity,
// which holds Monitoring Metrics Publisher on this component (see rbac.bicep).

@description('Application Insights component name.')
param name string

@description('Azure region.')
param location string

param tags object = {}

@description('Resource id of the Log Analytics workspace that stores the telemetry.')
param workspaceResourceId string

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: name
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    DisableLocalAuth: true
    IngestionMode: 'LogAnalytics'
    WorkspaceResourceId: workspaceResourceId
    publicNetworkAccessForIngestion: 'Enabled'
    publicNetworkAccessForQuery: 'Enabled'
  }
}

output id string = appInsights.id
output name string = appInsights.name
output connectionString string = appInsights.properties.ConnectionString
