// Tokenwarden's role on the Log Analytics workspace (in the workspace's resource group): it runs the detection
// queries and manages the incidents it raises or is handed, nothing more.
//
// One role does both. Microsoft Sentinel Responder's actions (azure-docs built-in-roles/security.md, copied
// into infra/permissions.json) include Microsoft.OperationalInsights/workspaces/query/*/read and
// workspaces/analytics/query/action, which is what the query API checks for every table, so Log Analytics
// Reader beside it granted nothing more and is no longer assigned (docs/permissions.md).

@description('Name of the Log Analytics workspace (in this resource group).')
param workspaceName string

@description('Principal (object) id of the Function App identity.')
param principalId string

var sentinelResponderRoleId = '3e150937-b8fe-4cfb-8069-0eaf05ecd056' // Microsoft Sentinel Responder

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

// Run the rule queries (azure-monitor-query), create and update incidents and add comments. Responder cannot
// create or change analytics rules.
resource sentinelResponderAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, principalId, sentinelResponderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelResponderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: run detection queries; create and update incidents, add comments.'
  }
}
