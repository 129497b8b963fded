// Tokenwarden: the whole responder, deployed with `azd up` into the customer's own subscription.
//
// Provisioned here, before the code exists: identity, storage, Function App, Application Insights,
// data collection (DCE, DCR, custom tables), the Event Grid topics (an outbound one only Tokenwarden
// sends to, an inbound one only eventPublisherPrincipalIds send to), every Azure role Tokenwarden
// needs (each on the one resource it is for), the Sentinel analytics rules and the audit workbook.
// Optional: Microsoft Graph app roles (graph/graph-permissions.bicep, needs Entra rights).
// After `azd deploy`, postdeploy.bicep adds what needs the running code: the Event Grid
// subscriptions to the `events` function (Key Vault key events; Tokenwarden.TokenAnomaly and
// Tokenwarden.MonitorAlert on the inbound topic), the Sentinel playbook and the automation
// rule that runs it.

targetScope = 'subscription'

// ---------------------------------------------------------------------------------------------
// Environment (azd)
// ---------------------------------------------------------------------------------------------

@minLength(1)
@maxLength(64)
@description('azd environment name; names and tags derive from it.')
param environmentName string

@minLength(1)
@description('Region for all Tokenwarden resources (the DCE and DCR follow the workspace\'s region).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Resource group to create or reuse. Empty: rg-<environmentName>.')
param resourceGroupName string = ''

// ---------------------------------------------------------------------------------------------
// Log Analytics and Microsoft Sentinel
// ---------------------------------------------------------------------------------------------

@description('Resource id of an existing Log Analytics workspace with Microsoft Sentinel enabled. Empty: a new workspace is created and Sentinel enabled on it.')
param logAnalyticsWorkspaceResourceId string = ''

@description('Retention of a new workspace (ignored with an existing one).')
@minValue(30)
@maxValue(730)
param logAnalyticsRetentionInDays int = 90

@description('Comma-separated tables connected to an existing workspace (azd: CONNECTED_TABLES). A Sentinel rule is deployed enabled only when every table it reads exists (TokenValidation_CL is created here); otherwise it is deployed disabled with a placeholder query. A new workspace has none connected yet: set this and redeploy once its data connectors are on.')
param connectedTables string = 'SigninLogs,AADNonInteractiveUserSignInLogs,AADServicePrincipalSignInLogs,AADManagedIdentitySignInLogs,MicrosoftGraphActivityLogs,OfficeActivity,AADUserRiskEvents,SecurityAlert,AuditLogs,CloudAppEvents'

var connectedTableNames = empty(connectedTables) ? [] : split(replace(connectedTables, ' ', ''), ',')

@description('Analytics rule ids not to deploy at all.')
param excludedAnalyticRuleIds array = []

// ---------------------------------------------------------------------------------------------
// Tokenwarden app settings (shared/core/settings.py: same names, same defaults)
// ---------------------------------------------------------------------------------------------

@description('SCAN_SCHEDULE: NCRONTAB schedule of the scan timer.')
param scanSchedule string = '0 */5 * * * *'

@description('KEY_DRIFT_SCHEDULE: NCRONTAB schedule of the key_drift timer (issuer JWKS diff against the last snapshot).')
param keyDriftSchedule string = '0 */30 * * * *'

@description('RESPONSE_MODE: dry-run, approval or auto. Start with approval; see docs/deployment.md before auto.')
@allowed([
  'dry-run'
  'approval'
  'auto'
])
param responseMode string = 'approval'

@description('ENTRA_TENANT_ID: the tenant whose issuers are watched. Defaults to the deployment\'s tenant.')
param entraTenantId string = tenant().tenantId

@description('EXTRA_COMPROMISED_KEYS: comma-separated key ids or thumbprints to treat as compromised.')
param extraCompromisedKeys string = ''

@description('GRAPH_ACTIVITY_ALLOWLIST_APPS: comma-separated app ids whose Graph calls may lack a sign-in.')
param graphActivityAllowlistApps string = ''

@description('KEY_SOURCES: comma-separated OpenID discovery URLs or JWKS files to watch; empty: Entra\'s defaults.')
param keySources string = ''

@description('APP_CATALOG_FILE: optional JSON list of servicePrincipal objects in the deployed package.')
param appCatalogFile string = ''

@description('ADX_CLUSTER_URI: Azure Data Explorer cluster (or Eventhouse) the scans read instead of the workspace; empty: the workspace. See docs/adx.md.')
param adxClusterUri string = ''

@description('ADX_DATABASE: database in ADX_CLUSTER_URI holding the exported tables; grant the app Database Viewer on it.')
param adxDatabase string = ''

@description('LOCAL_LOGS_DIR: folder of exported logs for offline scans. Leave empty in Azure.')
param localLogsDir string = ''

@description('SCAN_LOOKBACK: window the timer scans when it has no checkpoint yet.')
param scanLookback string = '1h'

@description('SCAN_OVERLAP: how far each scan re-reads before its rule\'s watermark, for late-arriving rows.')
param scanOverlap string = '10m'

@description('INGESTION_DELAY: how far behind now a scan stops, so rows still being ingested are read next time.')
param ingestionDelay string = '5m'

@description('SCAN_MAX_CHUNK: longest window one query covers; a long outage is caught up in chunks of this size.')
param scanMaxChunk string = '1h'

@description('SCAN_MAX_CHUNKS: most chunks per rule in one timer run; the rest of a backlog waits for the next run.')
param scanMaxChunks string = '24'

@description('BLAST_RADIUS_PER_RUN: most principals one response run may act on; the rest wait for approval.')
param blastRadiusPerRun string = '25'

@description('BLAST_RADIUS_PER_HOUR: most principals acted on in any hour; past it, cases wait for approval.')
param blastRadiusPerHour string = '100'

@description('TRIAGE_POLICY_FILE: path of a triage policy (YAML or JSON) in the deployed package; empty uses the shipped one.')
param triagePolicyFile string = ''

@description('PROTECTED_PRINCIPALS: comma-separated user object ids or UPNs no automatic action may touch (break-glass accounts).')
param protectedPrincipals string = ''

@description('LOG_ANALYTICS_ENDPOINT: Log Analytics query API origin. Empty: the cloud\'s (AZURE_CLOUD, from environment().name); another cloud\'s is refused.')
param logAnalyticsEndpoint string = ''

@description('GRAPH_ENDPOINT: Microsoft Graph origin. Empty: the cloud\'s (AZURE_CLOUD).')
param graphEndpoint string = ''

@description('ARM_ENDPOINT: Azure Resource Manager origin. Empty: the cloud\'s (AZURE_CLOUD).')
param armEndpoint string = ''

@secure()
@description('NOTIFY_WEBHOOK_URL: webhook (a Teams workflow) the notify step posts to. It carries a signature: keep it secret.')
param notifyWebhookUrl string = ''

@description('APPROVER_ROLE: value of the app role a signed-in caller must hold on the API app registration to approve a response (App Service authentication must be on).')
param approverRole string = 'Tokenwarden.Approver'

@description('CACHE_REFRESH_APPS: JSON list of {app_id, mechanism (restart|endpoint|event_grid), target, scope} saying how each app drops cached signing keys; restart targets need their site in cacheRefreshTargetResourceIds.')
param cacheRefreshApps string = ''

// ---------------------------------------------------------------------------------------------
// Response targets and consumers
// ---------------------------------------------------------------------------------------------

@description('Resource ids of App Service or Function App sites (Microsoft.Web/sites) Tokenwarden may restart to flush cached signing keys. A custom role allowing only read and restart (app/site-restart-role.bicep) is granted on each, and on nothing else. Every restart target in CACHE_REFRESH_APPS (cacheRefreshApps) must have its site listed here, or ARM refuses the restart (403).')
param cacheRefreshTargetResourceIds array = []

@description('Resource id of the Key Vault holding app signing keys, whose key events Tokenwarden receives. Empty: none.')
param keyVaultResourceId string = ''

@description('Name of the vault\'s Event Grid system topic. A vault has at most one: give its name if it exists.')
param keyVaultSystemTopicName string = ''

@description('Principals allowed to read the published untrusted-key list (apps that poll instead of subscribing).')
param signingKeysReaderPrincipalIds array = []

@description('Principals allowed to send TokenValidation_CL rows (apps that report validated tokens).')
param tokenValidationPublisherPrincipalIds array = []

@description('Principals allowed to send events to Tokenwarden\'s inbound topic: apps whose validation middleware reports Tokenwarden.TokenAnomaly, and the relay of Tokenwarden.MonitorAlert (EventGrid Data Sender on that topic only, never on the outbound one).')
param eventPublisherPrincipalIds array = []

// ---------------------------------------------------------------------------------------------
// Microsoft Graph and hosting
// ---------------------------------------------------------------------------------------------

@description('Create the API app registration with the approver app role (APPROVER_ROLE) in this deployment. Needs Entra rights to create applications; otherwise leave false and create the role by hand (docs/api.md).')
param createApproverRole bool = false

@description('Object ids of users or groups given the approver app role when createApproverRole is true.')
param approverPrincipalIds array = []

@description('Grant the Graph application permissions in this deployment. Needs Entra rights to grant app roles; otherwise leave false and have an Entra administrator deploy graph/graph-permissions.bicep.')
param grantGraphPermissions bool = false

@description('Zone-redundant Flex Consumption plan (only where the region supports it).')
param zoneRedundant bool = false

@description('Storage replication.')
param storageSkuName string = 'Standard_GRS'

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'tokenwarden'
}
var rgName = !empty(resourceGroupName) ? resourceGroupName : '${abbrs.resourcesResourceGroups}${environmentName}'
var functionAppName = '${abbrs.webSitesFunctions}tokenwarden-${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'

var createWorkspace = empty(logAnalyticsWorkspaceResourceId)
var workspaceName = createWorkspace ? '${abbrs.operationalInsightsWorkspaces}${resourceToken}' : last(split(logAnalyticsWorkspaceResourceId, '/'))
var workspaceSubscriptionId = createWorkspace ? subscription().subscriptionId : split(logAnalyticsWorkspaceResourceId, '/')[2]
var workspaceResourceGroupName = createWorkspace ? rgName : split(logAnalyticsWorkspaceResourceId, '/')[4]
var workspaceResourceId = createWorkspace ? '${subscription().id}/resourceGroups/${rgName}/providers/Microsoft.OperationalInsights/workspaces/${workspaceName}' : logAnalyticsWorkspaceResourceId

var subscribeToKeyVault = !empty(keyVaultResourceId)
var keyVaultSubscriptionId = subscribeToKeyVault ? split(keyVaultResourceId, '/')[2] : subscription().subscriptionId
var keyVaultResourceGroupName = subscribeToKeyVault ? split(keyVaultResourceId, '/')[4] : rgName
var systemTopicName = !empty(keyVaultSystemTopicName) ? keyVaultSystemTopicName : '${abbrs.eventGridSystemTopics}kv-tokenwarden-${resourceToken}'

// ---------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------

resource rg 'Microsoft.Resources/resourceGroups@2024-11-01' = {
  name: rgName
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}tokenwarden-${resourceToken}'
    location: location
    tags: tags
  }
}

module newWorkspace 'app/workspace.bicep' = if (createWorkspace) {
  name: 'workspace'
  scope: rg
  params: {
    name: workspaceName
    location: location
    tags: tags
    retentionInDays: logAnalyticsRetentionInDays
  }
}

module logTables 'monitoring/log-tables.bicep' = {
  name: 'tokenwarden-log-tables'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
  }
  dependsOn: [
    newWorkspace
  ]
}

module appInsights 'app/appinsights.bicep' = {
  name: 'appinsights'
  scope: rg
  params: {
    name: '${abbrs.insightsComponents}tokenwarden-${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: workspaceResourceId
  }
  dependsOn: [
    newWorkspace
  ]
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    skuName: storageSkuName
  }
}

module dataCollection 'monitoring/data-collection.bicep' = {
  name: 'data-collection'
  scope: rg
  params: {
    endpointName: '${abbrs.dataCollectionEndpoints}tokenwarden-${resourceToken}'
    ruleName: '${abbrs.dataCollectionRules}tokenwarden-${resourceToken}'
    location: logTables.outputs.location
    tags: tags
    workspaceResourceId: workspaceResourceId
  }
}

// Two topics, one per direction: EventGrid Data Sender cannot be narrowed to event types, so a principal
// allowed to send inbound events must not be able to send Tokenwarden.SigningKeys.Untrusted to the apps.
// Event type names: shared/core/resource_names.py (EVENT_TYPE_*, OUTBOUND_EVENT_TYPES, INBOUND_EVENT_TYPES).
var outboundEventTypes = {
  'Tokenwarden.SigningKeys.Untrusted': {
    displayName: 'Signing keys no longer trusted (outbound)'
    description: 'Published by Tokenwarden: a signing key must no longer be accepted. Apps subscribe and drop it from every key cache now.'
  }
}
var inboundEventTypes = {
  'Tokenwarden.TokenAnomaly': {
    displayName: 'Token anomaly (inbound)'
    description: 'Sent by an app\'s token-validation middleware: one token it found suspect, as a TokenValidation_CL row with its FailureReason. Tokenwarden\'s events function receives it.'
  }
  'Tokenwarden.MonitorAlert': {
    displayName: 'Azure Monitor alert (inbound)'
    description: 'An Azure Monitor alert in the common alert schema, relayed onto this topic. Tokenwarden\'s events function receives it.'
  }
}

// Outbound: Tokenwarden publishes (EVENT_GRID_TOPIC_ENDPOINT), apps subscribe. Only Tokenwarden sends.
module events 'app/events.bicep' = {
  name: 'events'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}tokenwarden-${resourceToken}'
    location: location
    tags: tags
    eventTypes: outboundEventTypes
  }
}

// Inbound: apps and the alert relay publish, Tokenwarden's events function subscribes (postdeploy.bicep).
module inboundEvents 'app/events.bicep' = {
  name: 'inbound-events'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}tokenwarden-in-${resourceToken}'
    location: location
    tags: tags
    eventTypes: inboundEventTypes
  }
}

module keyVaultEvents 'app/keyvault-events.bicep' = if (subscribeToKeyVault) {
  name: 'tokenwarden-keyvault-events'
  scope: resourceGroup(keyVaultSubscriptionId, keyVaultResourceGroupName)
  params: {
    keyVaultResourceId: keyVaultResourceId
    systemTopicName: systemTopicName
    tags: tags
  }
}

// Every app setting the code reads (shared/core/settings.py), each defaulting as the registry does.
var tokenwardenSettings = {
  SCAN_SCHEDULE: scanSchedule
  KEY_DRIFT_SCHEDULE: keyDriftSchedule
  RESPONSE_MODE: responseMode
  LOG_ANALYTICS_WORKSPACE_ID: logTables.outputs.customerId
  LOG_ANALYTICS_ENDPOINT: logAnalyticsEndpoint
  ADX_CLUSTER_URI: adxClusterUri
  ADX_DATABASE: adxDatabase
  ENTRA_TENANT_ID: entraTenantId
  EXTRA_COMPROMISED_KEYS: extraCompromisedKeys
  GRAPH_ACTIVITY_ALLOWLIST_APPS: graphActivityAllowlistApps
  KEY_SOURCES: keySources
  APP_CATALOG_FILE: appCatalogFile
  LOCAL_LOGS_DIR: localLogsDir
  SCAN_LOOKBACK: scanLookback
  SCAN_OVERLAP: scanOverlap
  INGESTION_DELAY: ingestionDelay
  SCAN_MAX_CHUNK: scanMaxChunk
  SCAN_MAX_CHUNKS: scanMaxChunks
  TRIAGE_POLICY_FILE: triagePolicyFile
  BLAST_RADIUS_PER_RUN: blastRadiusPerRun
  BLAST_RADIUS_PER_HOUR: blastRadiusPerHour
  PROTECTED_PRINCIPALS: protectedPrincipals
  GRAPH_ENDPOINT: graphEndpoint
  ARM_ENDPOINT: armEndpoint
  NOTIFY_WEBHOOK_URL: notifyWebhookUrl
  CACHE_REFRESH_APPS: cacheRefreshApps
  APPROVER_ROLE: approverRole
}

// Where the deployment put things the code talks to.
var deploymentSettings = {
  // The cloud this deployment runs in decides the authority, every endpoint and every token scope
  // (shared/core/clouds.py): AzureCloud (the public cloud's Bicep name), AzureUSGovernment or AzureChinaCloud.
  AZURE_CLOUD: environment().name
  SENTINEL_WORKSPACE_RESOURCE_ID: workspaceResourceId
  LOGS_INGESTION_ENDPOINT: dataCollection.outputs.logsIngestionEndpoint
  AUDIT_DCR_IMMUTABLE_ID: dataCollection.outputs.ruleImmutableId
  AUDIT_STREAM_NAME: dataCollection.outputs.tokenwardenAuditStream
  EVENT_GRID_TOPIC_ENDPOINT: events.outputs.endpoint
}

module functionApp 'app/api.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}tokenwarden-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: appInsights.outputs.connectionString
    appSettings: union(tokenwardenSettings, deploymentSettings)
    zoneRedundant: zoneRedundant
  }
}

// ---------------------------------------------------------------------------------------------
// Azure RBAC: each role on the single resource it is for
// ---------------------------------------------------------------------------------------------

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    applicationInsightsName: appInsights.outputs.name
    dataCollectionRuleName: dataCollection.outputs.ruleName
    outboundTopicName: events.outputs.name
    inboundTopicName: inboundEvents.outputs.name
    signingKeysContainerName: storage.outputs.signingKeysContainerName
    signingKeysReaderPrincipalIds: signingKeysReaderPrincipalIds
    tokenValidationPublisherPrincipalIds: tokenValidationPublisherPrincipalIds
    eventPublisherPrincipalIds: eventPublisherPrincipalIds
  }
}

module workspaceRbac 'monitoring/workspace-rbac.bicep' = {
  name: 'tokenwarden-workspace-rbac'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    principalId: identity.outputs.principalId
  }
  dependsOn: [
    newWorkspace
  ]
}

// Restarting a registered site needs only read and restart on it: a custom role (Website Contributor could also
// reconfigure and deploy the site), defined once per subscription and assigned on each listed site alone.
module siteRestartRole 'app/site-restart-role.bicep' = if (!empty(cacheRefreshTargetResourceIds)) {
  name: 'tokenwarden-site-restart-role'
  params: {
    environmentName: environmentName
    targetResourceIds: cacheRefreshTargetResourceIds
  }
}

module cacheRefreshRbac 'app/site-restart.bicep' = [
  for (targetId, i) in cacheRefreshTargetResourceIds: {
    name: 'tokenwarden-cache-refresh-${i}'
    scope: resourceGroup(split(targetId, '/')[2], split(targetId, '/')[4])
    params: {
      targetResourceId: targetId
      principalId: identity.outputs.principalId
      roleDefinitionId: siteRestartRole.outputs.id
    }
  }
]

// ---------------------------------------------------------------------------------------------
// Microsoft Graph application permissions (optional: needs Entra rights)
// ---------------------------------------------------------------------------------------------

module graphPermissions 'graph/graph-permissions.bicep' = if (grantGraphPermissions) {
  name: 'graph-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
  }
}

// The API app registration Easy Auth signs callers in to, with the approver app role (optional: Entra rights).
module approverAppRole 'graph/approver-role.bicep' = if (createApproverRole) {
  name: 'approver-role'
  scope: rg
  params: {
    apiAppUniqueName: 'tokenwarden-api-${resourceToken}'
    approverRole: approverRole
    approverPrincipalIds: approverPrincipalIds
  }
}

// ---------------------------------------------------------------------------------------------
// Sentinel content
// ---------------------------------------------------------------------------------------------

module analyticRules 'sentinel/analytic-rules.bicep' = {
  name: 'tokenwarden-analytic-rules'
  scope: resourceGroup(workspaceSubscriptionId, workspaceResourceGroupName)
  params: {
    workspaceName: workspaceName
    connectedTables: createWorkspace ? [] : connectedTableNames
    excludedRuleIds: excludedAnalyticRuleIds
  }
  dependsOn: [
    // The queries name TokenValidation_CL, which Sentinel requires to exist.
    logTables
  ]
}

module workbook 'monitoring/workbook.bicep' = {
  name: 'workbook'
  scope: rg
  params: {
    location: location
    tags: tags
    workspaceResourceId: workspaceResourceId
  }
  dependsOn: [
    logTables
  ]
}

// ---------------------------------------------------------------------------------------------
// Outputs (UPPER_SNAKE: they land in the azd environment, read by the postdeploy hook)
// ---------------------------------------------------------------------------------------------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output SERVICE_API_NAME string = functionApp.outputs.name
output TOKENWARDEN_PRINCIPAL_ID string = identity.outputs.principalId
output TOKENWARDEN_CLIENT_ID string = identity.outputs.clientId
output SENTINEL_WORKSPACE_RESOURCE_ID string = workspaceResourceId
output SENTINEL_ANALYTIC_RULE_IDS array = analyticRules.outputs.ruleResourceIds
output KEY_VAULT_RESOURCE_ID string = keyVaultResourceId
output KEY_VAULT_SYSTEM_TOPIC_NAME string = subscribeToKeyVault ? systemTopicName : ''
output LOGS_INGESTION_ENDPOINT string = dataCollection.outputs.logsIngestionEndpoint
output TOKEN_VALIDATION_DCR_IMMUTABLE_ID string = dataCollection.outputs.ruleImmutableId
output TOKEN_VALIDATION_STREAM string = dataCollection.outputs.tokenValidationStream
// The outbound topic: Tokenwarden publishes Tokenwarden.SigningKeys.Untrusted there, apps subscribe.
output EVENT_GRID_TOPIC_ENDPOINT string = events.outputs.endpoint
output EVENT_GRID_TOPIC_NAME string = events.outputs.name
// Where apps and the alert relay send Tokenwarden.TokenAnomaly and Tokenwarden.MonitorAlert; the
// postdeploy hook passes the name to postdeploy.bicep.
output EVENT_GRID_INBOUND_TOPIC_ENDPOINT string = inboundEvents.outputs.endpoint
output EVENT_GRID_INBOUND_TOPIC_NAME string = inboundEvents.outputs.name
output GRAPH_PERMISSIONS_GRANTED bool = grantGraphPermissions
output APPROVER_API_APP_ID string = createApproverRole ? approverAppRole.outputs.apiAppId : ''
