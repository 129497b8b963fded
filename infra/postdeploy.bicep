// What needs Tokenwarden's code to be running, deployed by the azd postdeploy hook after `azd deploy`
// (hooks/postdeploy.sh). Deployed to Tokenwarden's resource group:
//   * the Event Grid subscriptions to the `events` function: the Key Vault's key events, and the
//     inbound types on Tokenwarden's inbound topic (Tokenwarden.TokenAnomaly, Tokenwarden.MonitorAlert);
//     Event Grid validates the endpoint when a subscription is created, so the function must exist first;
//   * the Sentinel playbook, which needs the Function App's host key (created when the host first runs);
//   * Sentinel's right to run the playbook, the playbook's Sentinel Reader role, and the automation
//     rule that runs the playbook for incidents from Tokenwarden's analytics rules.

@description('Azure region for the playbook.')
param location string = resourceGroup().location

@description('azd environment name (tags).')
param environmentName string

@description('Name of the Tokenwarden Function App in this resource group.')
param functionAppName string

@description('Resource id of the Log Analytics workspace with Microsoft Sentinel.')
param workspaceResourceId string

@description('Resource ids of the Tokenwarden analytics rules (main.bicep output SENTINEL_ANALYTIC_RULE_IDS).')
param analyticRuleIds array

@description('Resource id of the Key Vault whose key events Tokenwarden receives. Empty: none.')
param keyVaultResourceId string = ''

@description('Name of the vault\'s Event Grid system topic (main.bicep output KEY_VAULT_SYSTEM_TOPIC_NAME).')
param keyVaultSystemTopicName string = ''

@description('Name of Tokenwarden\'s inbound Event Grid topic in this resource group (main.bicep output EVENT_GRID_INBOUND_TOPIC_NAME), where apps and the alert relay send their events.')
@minLength(3)
param inboundTopicName string

@description('Object id, in this tenant, of the Microsoft Sentinel service principal (appId 98785600-1bb7-4fb9-b9fa-19afe2c8a360).')
param sentinelServicePrincipalObjectId string

@description('Name of a Microsoft Sentinel Automation Contributor assignment Sentinel already holds on this resource group (the hook looks it up: the portal\'s "Manage playbook permissions" makes one under a random name). Empty: none; this deployment makes it.')
param existingSentinelAutomationAssignment string = ''

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'tokenwarden'
}
var sentinelAutomationContributorRoleId = 'f4c81013-99ee-4d62-a7ee-b3f1f648599a' // Microsoft Sentinel Automation Contributor
var workspaceSubscriptionId = split(workspaceResourceId, '/')[2]
var workspaceResourceGroupName = split(workspaceResourceId, '/')[4]
var workspaceName = last(split(workspaceResourceId, '/'))
var subscribeToKeyVault = !empty(keyVaultResourceId)
// What Tokenwarden receives on its inbound topic: exactly the types declared there (shared/core/resource_names.py:
// INBOUND_EVENT_TYPES). Tokenwarden.SigningKeys.Untrusted is on the outbound topic, for the apps.
var inboundEventTypes = [
  'Tokenwarden.TokenAnomaly'
  'Tokenwarden.MonitorAlert'
]

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

module keyVaultSubscription 'app/topic-subscription.bicep' = if (subscribeToKeyVault) {
  name: 'tokenwarden-keyvault-subscription'
  scope: resourceGroup(split(keyVaultResourceId, '/')[2], split(keyVaultResourceId, '/')[4])
  params: {
    topicKind: 'system'
    topicName: keyVaultSystemTopicName
    subscriptionName: 'tokenwarden-key-events'
    includedEventTypes: [
      'Microsoft.KeyVault.KeyNewVersionCreated'
      'Microsoft.KeyVault.KeyNearExpiry'
      'Microsoft.KeyVault.KeyExpired'
    ]
    functionAppResourceId: functionApp.id
  }
}

// Token anomalies reported by apps and relayed Azure Monitor alerts, sent to Tokenwarden's inbound topic
// by the principals in main.bicep's eventPublisherPrincipalIds (the only senders there).
module inboundSubscription 'app/topic-subscription.bicep' = {
  name: 'tokenwarden-inbound-subscription'
  params: {
    topicKind: 'custom'
    topicName: inboundTopicName
    subscriptionName: 'tokenwarden-inbound-events'
    includedEventTypes: inboundEventTypes
    functionAppResourceId: functionApp.id
  }
}

module playbook 'sentinel/playbook.bicep' = {
  name: 'playbook'
  params: {
    location: location
    tags: tags
    playbookName: '${abbrs.logicWorkflows}tokenwarden-incident-${resourceToken}'
    connectionName: '${abbrs.webConnections}azuresentinel-tokenwarden-${resourceToken}'
    functionAppName: functionApp.name
  }
}

// Sentinel runs playbooks as its own service principal, which needs this role on the playbook's
// resource group (the portal's "Manage playbook permissions" grants the same, under a random name). Role
// assignments are identified by their name (azure-docs role-based-access-control/troubleshooting.md), and ARM
// refuses a second assignment of one role to one principal at one scope under another name (409
// RoleAssignmentExists, "The role assignment already exists.", the message Azure/azure-cli's own role commands
// test for), so when the hook finds one it is used, not made again.
resource sentinelRunsPlaybooks 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (empty(existingSentinelAutomationAssignment)) {
  name: guid(resourceGroup().id, sentinelServicePrincipalObjectId, sentinelAutomationContributorRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', sentinelAutomationContributorRoleId)
    principalId: sentinelServicePrincipalObjectId
    principalType: 'ServicePrincipal'
    description: 'Microsoft Sentinel: run the Tokenwarden playbook in this resource group.'
  }
}

module playbookReader 'sentinel/playbook-reader.bicep' = {
  name: 'tokenwarden-playbook-reader'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    playbookPrincipalId: playbook.outputs.principalId
  }
}

module automationRule 'sentinel/automation-rule.bicep' = {
  name: 'tokenwarden-automation-rule'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    playbookResourceId: playbook.outputs.id
    analyticRuleIds: analyticRuleIds
  }
  dependsOn: [
    sentinelRunsPlaybooks
    playbookReader
  ]
}

output INBOUND_EVENT_SUBSCRIPTION_ID string = inboundSubscription.outputs.id
output PLAYBOOK_RESOURCE_ID string = playbook.outputs.id
output AUTOMATION_RULE_ID string = automationRule.outputs.id
