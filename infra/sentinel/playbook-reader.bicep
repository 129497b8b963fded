// Microsoft Sentinel Reader for the playbook's managed identity on the workspace: the least role with
// which the Sentinel connector's incident trigger works. The playbook takes no action in Sentinel.

@description('Name of the Log Analytics workspace with Microsoft Sentinel (in this resource group).')
param workspaceName string

@description('Principal (object) id of the playbook\'s system-assigned identity.')
param playbookPrincipalId string

var sentinelReaderRoleId = '8d289c81-5878-46d4-8554-54e1e3d8b5cb' // Microsoft Sentinel Reader

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

resource playbookReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, playbookPrincipalId, sentinelReaderRoleId)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelReaderRoleId)
    principalId: playbookPrincipalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden playbook: use the Sentinel incident trigger.'
  }
}
