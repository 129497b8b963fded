// Microsoft Graph application permissions for Tokenwarden's managed identity, granted as app-role
// assignments through the Microsoft Graph Bicep extension. Optional and kept apart from the rest:
// the identity deploying it needs rights in Entra ID to grant app roles (Privileged Role
// Administrator, or AppRoleAssignment.ReadWrite.All with Application.Read.All), which an Azure
// subscription owner usually does not have. See docs/permissions.md for what each permission is for.
//
// Deploy it with the rest (`grantGraphPermissions=true`) or on its own by an Entra administrator:
//   az deployment group create -g <rg> -f infra/graph/graph-permissions.bicep -p principalId=<object id>

extension microsoftGraphV1

@description('Principal (object) id of the Tokenwarden managed identity.')
param principalId string

// The well-known appId of the Microsoft Graph service principal, the same in every tenant.
var microsoftGraphAppId = '00000003-0000-0000-c000-000000000000'

// The app roles, from the file the local simulator grants from too (infra/permissions.json: one source), each
// looked up by value on the Graph service principal, never by hard-coded app-role id.
var graphAppRoles = map(loadJsonContent('../permissions.json').graphAppRoles, role => role.value)

resource microsoftGraph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: microsoftGraphAppId
}

resource appRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for appRole in graphAppRoles: {
    principalId: principalId
    resourceId: microsoftGraph.id
    appRoleId: filter(microsoftGraph.appRoles, role => role.value == appRole)[0].id
  }
]

output grantedAppRoles array = graphAppRoles
