// Tokenwarden's site-restart role on one App Service or Function App site registered for cache refresh:
// restarting the app is how Tokenwarden forces it to drop cached signing keys. Deployed into the site's own
// resource group and scoped to that one site, never to its group or its plan (a role on a plan does not reach
// its sites: sites are not children of their plan).

@description('Resource id of a Microsoft.Web/sites resource in this resource group.')
param targetResourceId string

@description('Principal (object) id of the Function App identity.')
param principalId string

@description('Resource id of the custom role (site-restart-role.bicep): read the site, restart it, nothing else.')
param roleDefinitionId string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: last(split(targetResourceId, '/'))
}

resource onSite 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(targetResourceId, principalId, roleDefinitionId)
  scope: site
  properties: {
    roleDefinitionId: roleDefinitionId
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: restart this app so it reloads its signing keys.'
  }
}
