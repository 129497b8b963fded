// The custom role key-cache refresh needs on a site, and nothing more: read the site and
// Microsoft.Web/sites/restart/action (what POST {site}/restart checks). It replaces Website Contributor, which
// could also change the site's configuration, deploy code and read its publishing credentials.
//
// Actions, name and description come from infra/permissions.json (azureRoles.siteRestart), the file the
// local simulator grants from. A custom role's name is unique in the tenant, so it carries the environment and
// a token of the subscription. Resource type: Microsoft.Authorization/roleDefinitions@2022-04-01
// (bicep-types-az generated/authorization/microsoft.authorization/2022-04-01: roleName, description, type,
// permissions[{actions, notActions}], assignableScopes).

targetScope = 'subscription'

@description('azd environment name (in the role\'s name).')
param environmentName string

@description('Resource ids of the sites the role will be assigned on: it must be assignable in their subscriptions.')
param targetResourceIds array = []

var siteRestart = loadJsonContent('../permissions.json').azureRoles.siteRestart
var targetSubscriptions = [for id in targetResourceIds: '/subscriptions/${split(id, '/')[2]}']

resource role 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, environmentName, 'tokenwarden-site-restart')
  properties: {
    roleName: '${siteRestart.roleName} (${environmentName}, ${take(uniqueString(subscription().id), 6)})'
    description: siteRestart.description
    type: 'CustomRole'
    permissions: [
      {
        actions: siteRestart.actions
        notActions: siteRestart.notActions
      }
    ]
    assignableScopes: union([subscription().id], targetSubscriptions)
  }
}

output id string = role.id
