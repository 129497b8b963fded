// Microsoft Sentinel scheduled analytics rules, one per detection rule in shared/rules/<id>/.
// Queries and metadata come from the generated analytic-rules.json (tools/sentinel_content.py), so the rule
// folder is the one source of truth. Every rule emits the same finding contract, so every rule shares the
// entity and custom-detail maps.
// Creating an analytic rule test-runs its query, and a query naming a table the workspace lacks fails the
// whole deployment. A rule whose tables are not all connected is therefore deployed disabled, with a
// placeholder query of the same columns and a description that says why; listing the tables in
// connectedTables and running `azd provision` again deploys the real query, enabled.

@description('Name of the Log Analytics workspace with Microsoft Sentinel (in this resource group).')
param workspaceName string

@description('Source tables the workspace has (connected data), besides Tokenwarden\'s own TokenValidation_CL. Sentinel rejects a rule whose query names a missing table, so a rule whose tables are not all here is deployed disabled with a placeholder query.')
param connectedTables array

@description('Rule ids not to deploy even though their tables are connected.')
param excludedRuleIds array = []

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

// Every rule's Sentinel form (`tokenwarden rules render ID --for sentinel`) and metadata, generated from
// shared/rules/<id>/ by `make sentinel-content`; a test fails when the file is stale.
var rules = loadJsonContent('analytic-rules.json').rules

// The finding contract every rule's query projects.
var entityMappings = [
  {
    entityType: 'Account'
    fieldMappings: [
      {
        identifier: 'AadUserId'
        columnName: 'UserObjectId'
      }
      {
        identifier: 'FullName'
        columnName: 'UserUpn'
      }
    ]
  }
  {
    entityType: 'IP'
    fieldMappings: [
      {
        identifier: 'Address'
        columnName: 'IpAddress'
      }
    ]
  }
  {
    entityType: 'CloudApplication'
    // CloudApplication's AppId identifier is Defender for Cloud Apps' integer id of a service; the finding's
    // AppId is an Entra application (client) id, a GUID, so it maps to Name, the entity's other strong
    // identifier (https://learn.microsoft.com/azure/sentinel/entities-reference, CloudApplication).
    fieldMappings: [
      {
        identifier: 'Name'
        columnName: 'AppId'
      }
    ]
  }
]
var customDetails = {
  KeyId: 'KeyId'
  TokenId: 'TokenId'
  Issuer: 'Issuer'
  TokenTenantId: 'TokenTenantId'
  SourceTable: 'SourceTable'
}

var availableTables = union(connectedTables, [
  'TokenValidation_CL'
])
var deployedRules = filter(rules, rule => !contains(excludedRuleIds, rule.id))
// Per deployed rule: whether the workspace has every table its query reads.
var connected = [for rule in deployedRules: length(intersection(rule.tables, availableTables)) == length(rule.tables)]

resource analyticRules 'Microsoft.SecurityInsights/alertRules@2025-09-01' = [
  for (rule, i) in deployedRules: {
    scope: workspace
    name: guid(workspace.id, 'tokenwarden', rule.id)
    kind: 'Scheduled'
    properties: {
      displayName: 'Tokenwarden: ${rule.title}'
      description: connected[i] ? rule.description : '${rule.description} Deployed disabled with a placeholder query: the workspace lacks one or more of its tables (${join(rule.tables, ', ')}). Connect them, list them in connectedTables and run azd provision again.'
      enabled: (rule.enabled) && connected[i]
      severity: rule.severity
      query: connected[i] ? rule.query : rule.placeholderQuery
      queryFrequency: rule.queryFrequency
      queryPeriod: rule.queryPeriod
      triggerOperator: 'GreaterThan'
      triggerThreshold: 0
      suppressionEnabled: false
      suppressionDuration: 'PT1H'
      tactics: rule.tactics
      techniques: rule.techniques
      eventGroupingSettings: {
        aggregationKind: 'AlertPerResult'
      }
      entityMappings: entityMappings
      customDetails: customDetails
      alertDetailsOverride: {
        alertDisplayNameFormat: 'Tokenwarden: ${rule.title} ({{UserUpn}})'
      }
      incidentConfiguration: {
        createIncident: true
        groupingConfiguration: {
          enabled: true
          reopenClosedIncident: false
          lookbackDuration: 'PT24H'
          matchingMethod: 'Selected'
          groupByEntities: [
            'Account'
          ]
          groupByAlertDetails: []
          groupByCustomDetails: []
        }
      }
    }
  }
]

@description('Resource ids of the deployed analytics rules, for the automation rule that runs the playbook.')
output ruleResourceIds array = [
  for (rule, i) in deployedRules: analyticRules[i].id
]
