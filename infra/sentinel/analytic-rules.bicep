// Microsoft Sentinel scheduled analytics rules, one per detection rule in shared/rules/<id>/.
// Each query is loaded from the rule's own rule.kql (the same file Tokenwarden's scanner runs), so
// there is one source of truth; the metadata here must match rule.toml, which a test enforces.
// Every rule emits the same finding contract, so every rule shares the entity and custom-detail maps.
// `techniques` are rule.toml's; the stable alert-rule API accepts only technique ids (T####), so
// `sentinelTechniques` holds them with each sub-technique reduced to its technique.

@description('Name of the Log Analytics workspace with Microsoft Sentinel (in this resource group).')
param workspaceName string

@description('Source tables the workspace has (connected data), besides Tokenwarden\'s own TokenValidation_CL. Sentinel rejects a rule whose query names a missing table, so a rule is deployed only when all its tables are here.')
param connectedTables array

@description('Rule ids not to deploy even though their tables are connected.')
param excludedRuleIds array = []

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

// Rules that need a list only Tokenwarden's own scan supplies (the JWKS key ids published today; the
// apps that admit personal accounts) would report every token in Sentinel, where those lists are
// empty. They are deployed disabled; Tokenwarden runs them itself with the lists filled in.
var runtimeListReason = ' Deployed disabled: in Sentinel this rule lacks the runtime list only Tokenwarden\'s own scan supplies'

var rules = [
  {
    id: 'compromised-signing-key'
    title: 'Token signed with a known-compromised signing key'
    severity: 'High'
    tables: [
      'TokenValidation_CL'
    ]
    queryFrequency: 'PT1H'
    queryPeriod: 'PT1H'
    tactics: [
      'CredentialAccess'
    ]
    techniques: [
      'T1606'
    ]
    sentinelTechniques: [
      'T1606'
    ]
    enabled: true
    description: 'An application accepted an access token signed with a key on Tokenwarden\'s compromised-key list (such as the Microsoft-account key stolen by Storm-0558). Treat the token as forged whatever its claims say.'
    query: loadTextContent('../../shared/rules/compromised-signing-key/rule.kql')
  }
  {
    id: 'unpublished-signing-key'
    title: 'Token accepted with a signing key its issuer no longer publishes'
    severity: 'High'
    tables: [
      'TokenValidation_CL'
    ]
    queryFrequency: 'PT1H'
    queryPeriod: 'PT1H'
    tactics: [
      'CredentialAccess'
      'DefenseEvasion'
    ]
    techniques: [
      'T1606'
    ]
    sentinelTechniques: [
      'T1606'
    ]
    enabled: false
    description: 'An application accepted a token signed with a key id that no watched Entra issuer publishes today: the app\'s signing-key cache is stale.${runtimeListReason} (the key ids each issuer publishes in its JWKS today).'
    query: loadTextContent('../../shared/rules/unpublished-signing-key/rule.kql')
  }
  {
    id: 'consumer-key-for-org-app'
    title: 'Personal-account token accepted by an organizations-only app'
    severity: 'High'
    tables: [
      'TokenValidation_CL'
    ]
    queryFrequency: 'PT1H'
    queryPeriod: 'PT1H'
    tactics: [
      'CredentialAccess'
      'InitialAccess'
    ]
    techniques: [
      'T1606'
      'T1078.004'
    ]
    sentinelTechniques: [
      'T1606'
      'T1078'
    ]
    enabled: false
    description: 'An application that admits only work or school accounts accepted a token from the Microsoft-account consumer tenant, the Storm-0558 root cause.${runtimeListReason} (the apps whose signInAudience admits personal accounts).'
    query: loadTextContent('../../shared/rules/consumer-key-for-org-app/rule.kql')
  }
  {
    id: 'issuer-tenant-mismatch'
    title: 'Token issuer does not match its tenant or is not an Entra issuer'
    severity: 'Medium'
    tables: [
      'TokenValidation_CL'
    ]
    queryFrequency: 'PT1H'
    queryPeriod: 'PT1H'
    tactics: [
      'CredentialAccess'
    ]
    techniques: [
      'T1606'
    ]
    sentinelTechniques: [
      'T1606'
    ]
    enabled: true
    description: 'An application accepted a token whose iss claim names a different tenant from its tid claim, or whose issuer is not of the Entra form. A genuine token never disagrees with itself.'
    query: loadTextContent('../../shared/rules/issuer-tenant-mismatch/rule.kql')
  }
  {
    id: 'token-without-sign-in'
    title: 'Microsoft Graph call with a token no sign-in explains'
    severity: 'Medium'
    tables: [
      'MicrosoftGraphActivityLogs'
      'SigninLogs'
      'AADNonInteractiveUserSignInLogs'
      'AADServicePrincipalSignInLogs'
      'AADManagedIdentitySignInLogs'
    ]
    queryFrequency: 'PT1H'
    queryPeriod: 'P1D'
    tactics: [
      'CredentialAccess'
      'DefenseEvasion'
    ]
    techniques: [
      'T1606'
      'T1550.001'
    ]
    sentinelTechniques: [
      'T1606'
      'T1550'
    ]
    enabled: true
    description: 'A Microsoft Graph request used a token whose unique token identifier matches no sign-in in the four sign-in tables. Every token Entra issues follows a sign-in; a forged token does not.'
    query: loadTextContent('../../shared/rules/token-without-sign-in/rule.kql')
  }
  {
    id: 'implausible-token-lifetime'
    title: 'Token with an implausible lifetime or validity period'
    severity: 'Medium'
    tables: [
      'TokenValidation_CL'
    ]
    queryFrequency: 'PT1H'
    queryPeriod: 'PT1H'
    tactics: [
      'CredentialAccess'
      'Persistence'
    ]
    techniques: [
      'T1606'
    ]
    sentinelTechniques: [
      'T1606'
    ]
    enabled: true
    description: 'An application accepted a token whose lifetime is longer than any Entra policy issues, that was issued in the future, or whose nbf falls after its exp. Forgers mint long-lived tokens; Entra never does.'
    query: loadTextContent('../../shared/rules/implausible-token-lifetime/rule.kql')
  }
  {
    id: 'mail-access-by-unexpected-app'
    title: 'Mailbox items accessed by an app pair never seen reading mail'
    severity: 'High'
    tables: [
      'OfficeActivity'
    ]
    queryFrequency: 'PT1H'
    queryPeriod: 'P14D'
    tactics: [
      'Collection'
      'CredentialAccess'
    ]
    techniques: [
      'T1114.002'
      'T1606'
    ]
    sentinelTechniques: [
      'T1114'
      'T1606'
    ]
    enabled: true
    description: 'A MailItemsAccessed event came from an AppId and ClientAppId pair that did not access mail during the baseline period, as CISA detected Storm-0558 (AA23-193A).'
    query: loadTextContent('../../shared/rules/mail-access-by-unexpected-app/rule.kql')
  }
]

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
    fieldMappings: [
      {
        identifier: 'AppId'
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
var deployedRules = filter(rules, rule => !contains(excludedRuleIds, rule.id) && length(intersection(rule.tables, availableTables)) == length(rule.tables))

resource analyticRules 'Microsoft.SecurityInsights/alertRules@2025-09-01' = [
  for rule in deployedRules: {
    scope: workspace
    name: guid(workspace.id, 'tokenwarden', rule.id)
    kind: 'Scheduled'
    properties: {
      displayName: 'Tokenwarden: ${rule.title}'
      description: rule.description
      enabled: rule.enabled
      severity: rule.severity
      query: rule.query
      queryFrequency: rule.queryFrequency
      queryPeriod: rule.queryPeriod
      triggerOperator: 'GreaterThan'
      triggerThreshold: 0
      suppressionEnabled: false
      suppressionDuration: 'PT1H'
      tactics: rule.tactics
      techniques: rule.sentinelTechniques
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
