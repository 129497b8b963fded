// The API's app registration with the approver app role, through the Microsoft Graph Bicep extension.
// Approvals are accepted only from a caller App Service authentication (Easy Auth) signed in who holds this role
// (shared/api/caller.py; docs/api.md "Approvers are verified"). Optional (createApproverRole=true) and kept
// apart from the rest: the identity deploying it needs Entra rights to create applications and assign app roles
// (Application Administrator or Cloud Application Administrator, or Application.ReadWrite.All with
// AppRoleAssignment.ReadWrite.All). Configure Easy Auth's Microsoft provider with the app id this outputs.
//
// Types: microsoftgraph/msgraph-bicep-types generated/microsoftgraph/microsoft.graph/v1.0/types.md
// (Microsoft.Graph/applications: uniqueName and displayName required; appRoles of MicrosoftGraphAppRole
// {allowedMemberTypes, description, displayName, id, isEnabled, value}). An app role's value cannot contain spaces
// and arrives in the `roles` claim (Entra: "Add app roles and get them from a token").

extension microsoftGraphV1

@description('Unique name (alternate key, immutable) of the API app registration; created if absent, updated if present.')
param apiAppUniqueName string

@description('Display name of the API app registration.')
param apiAppDisplayName string = 'Tokenwarden API'

@description('APPROVER_ROLE: value of the approver app role (no spaces).')
param approverRole string = 'Tokenwarden.Approver'

@description('Object ids of users or groups to assign the approver role to (optional; assign later in Entra otherwise).')
param approverPrincipalIds array = []

// Deterministic, so a redeploy keeps the role (and its assignments) rather than replacing it.
var approverRoleId = guid(apiAppUniqueName, approverRole)

resource apiApp 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: apiAppUniqueName
  displayName: apiAppDisplayName
  signInAudience: 'AzureADMyOrg'
  appRoles: [
    {
      allowedMemberTypes: [
        'User'
      ]
      description: 'May approve the planned response of a Tokenwarden case (POST /api/cases/{id}/approve).'
      displayName: 'Tokenwarden approver'
      id: approverRoleId
      isEnabled: true
      value: approverRole
    }
  ]
}

resource apiServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: apiApp.appId
}

resource approverAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for principalId in approverPrincipalIds: {
    principalId: principalId
    resourceId: apiServicePrincipal.id
    appRoleId: approverRoleId
  }
]

output apiAppId string = apiApp.appId
output approverRoleId string = approverRoleId
