// Azure role assignments in Tokenwarden's own resource group, each on the single resource it is for.
// Role-assignment names are guid(scope, principal, role), so a redeployment changes nothing.
// The workspace role is in monitoring/workspace-rbac.bicep; the site-restart role in site-restart(-role).bicep.

@description('Principal (object) id of the Function App identity.')
param principalId string

param storageAccountName string
param applicationInsightsName string
param dataCollectionRuleName string

@description('Name of the outbound Event Grid topic (Tokenwarden.SigningKeys.Untrusted): only Tokenwarden\'s identity may send to it.')
param outboundTopicName string

@description('Name of the inbound Event Grid topic (Tokenwarden.TokenAnomaly, Tokenwarden.MonitorAlert): only eventPublisherPrincipalIds may send to it.')
param inboundTopicName string

@description('Name of the blob container that holds the published untrusted-key list.')
param signingKeysContainerName string

@description('Principals (apps that poll instead of subscribing) allowed to read the untrusted-key list.')
param signingKeysReaderPrincipalIds array = []

@description('Principals (apps that validate tokens) allowed to send TokenValidation_CL rows through the DCR.')
param tokenValidationPublisherPrincipalIds array = []

@description('Principals allowed to send events to the inbound topic: apps whose validation middleware reports Tokenwarden.TokenAnomaly, and the relay of Tokenwarden.MonitorAlert. They get no role on the outbound topic.')
param eventPublisherPrincipalIds array = []

// Built-in role definition ids.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageBlobDataReaderRoleId = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1' // Storage Blob Data Reader
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher
var eventGridDataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7' // EventGrid Data Sender

resource storageAccount 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2025-01-01' existing = {
  parent: storageAccount
  name: 'default'
}

resource signingKeysContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = {
  parent: blobService
  name: signingKeysContainerName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource dataCollectionRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' existing = {
  name: dataCollectionRuleName
}

resource outboundTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: outboundTopicName
}

resource inboundTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: inboundTopicName
}

// Host storage (deployment package, timer leases, host secrets) and the untrusted-key list. The
// Functions host needs Owner on blobs; the data plane offers nothing narrower that still works.
resource blobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageBlobDataOwnerRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: host storage, deployment package, signing-key snapshots.'
  }
}

// The respond queue trigger and its poison queue.
resource queueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageQueueDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: the respond queue and its poison queue.'
  }
}

// Cases, findings, checkpoints, actions and key snapshots.
resource tableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storageAccount.id, principalId, storageTableDataContributorRoleId)
  scope: storageAccount
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: case, finding, checkpoint, action and key-snapshot tables.'
  }
}

// Telemetry with Entra auth (App Insights local auth is disabled).
resource appInsightsMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, principalId, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: Application Insights telemetry with Entra authentication.'
  }
}

// Audit rows (TokenwardenAudit_CL) through the Logs Ingestion API.
resource dcrMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dataCollectionRule.id, principalId, monitoringMetricsPublisherRoleId)
  scope: dataCollectionRule
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: write TokenwardenAudit_CL through the data collection rule.'
  }
}

// Publishing Tokenwarden.SigningKeys.Untrusted events: Tokenwarden is the only sender on the outbound
// topic, so no other principal can make the apps drop valid signing keys.
resource topicDataSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(outboundTopic.id, principalId, eventGridDataSenderRoleId)
  scope: outboundTopic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSenderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
    description: 'Tokenwarden: publish untrusted-key events.'
  }
}

// Apps that poll the untrusted-key list read that one container, nothing else in the account.
resource signingKeysReaders 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for readerId in signingKeysReaderPrincipalIds: {
    name: guid(signingKeysContainer.id, readerId, storageBlobDataReaderRoleId)
    scope: signingKeysContainer
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReaderRoleId)
      principalId: readerId
      description: 'Read the Tokenwarden untrusted-key list.'
    }
  }
]

// Apps that report validated tokens write to the DCR, nothing else.
resource tokenValidationPublishers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for publisherId in tokenValidationPublisherPrincipalIds: {
    name: guid(dataCollectionRule.id, publisherId, monitoringMetricsPublisherRoleId)
    scope: dataCollectionRule
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
      principalId: publisherId
      description: 'Send TokenValidation_CL rows to the Tokenwarden data collection rule.'
    }
  }
]

// Apps and the alert relay send their inbound events (Tokenwarden.TokenAnomaly, Tokenwarden.MonitorAlert)
// to the inbound topic, and only there: Data Sender cannot be narrowed to event types, so a role on the
// outbound topic would let them publish Tokenwarden.SigningKeys.Untrusted (see docs/deployment.md).
resource eventPublishers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for publisherId in eventPublisherPrincipalIds: {
    name: guid(inboundTopic.id, publisherId, eventGridDataSenderRoleId)
    scope: inboundTopic
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', eventGridDataSenderRoleId)
      principalId: publisherId
      description: 'Send Tokenwarden.TokenAnomaly or Tokenwarden.MonitorAlert events to the Tokenwarden inbound topic.'
    }
  }
]
