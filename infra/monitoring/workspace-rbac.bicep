// Tokenwarden's roles on the Log Analytics workspace (in the workspace's resource group):
// it runs the detection queries and manages the incidents it raises or is handed, nothing more.

@description('Name of the Log Analytics workspace (in this resource group).')
param workspaceName string

@description('Principal (object) id of the Function App identity.')
param principalId string

var logAnalyticsReaderRoleId = '73c42c96-874c-492b-b04d-ab87d138a893' // Log Analytics Reader
var sentinelResponderRoleId = '3e150937-b8fe-4cfb-8069-0eaf05ecd056' // Microsoft Sentinel Responder

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

// Run the rule queries (azure-monitor-query) over sign-in, Graph activity, audit and custom tables.
resource logAnalyticsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, logAnalyticsReaderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', logAnalyticsReaderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: run detection queries.'
  }
}

// Create and update incidents and add comments. Responder cannot create or change analytics rules.
resource sentinelResponder 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, sentinelResponderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelResponderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: create and update incidents, add comments.'
  }
}
