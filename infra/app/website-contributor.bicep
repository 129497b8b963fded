// Website Contributor for Tokenwarden on one App Service site or plan registered for cache refresh:
// restarting the app is how Tokenwarden forces it to drop cached signing keys. Deployed into the
// target's own resource group, and scoped to that one resource, never to its group.

@description('Resource id of a Microsoft.Web/sites or Microsoft.Web/serverfarms resource in this resource group.')
param targetResourceId string

@description('Principal (object) id of the Function App identity.')
param principalId string

var websiteContributorRoleId = 'de139f84-1756-47ae-9be6-808fbbe84772' // Website Contributor
var targetName = last(split(targetResourceId, '/'))
var isPlan = contains(toLower(targetResourceId), '/providers/microsoft.web/serverfarms/')

resource site 'Microsoft.Web/sites@2024-04-01' existing = if (!isPlan) {
  name: targetName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' existing = if (isPlan) {
  name: targetName
}

resource onSite 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!isPlan) {
  name: guid(targetResourceId, principalId, websiteContributorRoleId)
  scope: site
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: restart this app so it reloads its signing keys.'
  }
}

resource onPlan 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (isPlan) {
  name: guid(targetResourceId, principalId, websiteContributorRoleId)
  scope: plan
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', websiteContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: restart the apps on this plan so they reload their signing keys.'
  }
}
