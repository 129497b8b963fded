// The two custom tables, in the Log Analytics workspace's resource group. Their columns are loaded
// from the contracts in shared/schemas, so the tables, the DCR streams and the code share one schema.

@description('Name of the Log Analytics workspace (in this resource group).')
param workspaceName string

var tokenValidation = loadJsonContent('../../shared/schemas/TokenValidation_CL.json')
var tokenwardenAudit = loadJsonContent('../../shared/schemas/TokenwardenAudit_CL.json')

// The contracts use the DCR and KQL spelling 'datetime'; the tables API documents 'dateTime'.
var tokenValidationColumns = [
  for c in tokenValidation.columns: {
    name: c.name
    type: c.type == 'datetime' ? 'dateTime' : c.type
  }
]
var tokenwardenAuditColumns = [
  for c in tokenwardenAudit.columns: {
    name: c.name
    type: c.type == 'datetime' ? 'dateTime' : c.type
  }
]

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

// What apps write after validating an access token; the detection rules read it.
resource tokenValidationTable 'Microsoft.OperationalInsights/workspaces/tables@2025-02-01' = {
  parent: workspace
  name: tokenValidation.table
  properties: {
    plan: 'Analytics'
    schema: {
      name: tokenValidation.table
      description: 'Access tokens validated by applications, reported for Tokenwarden detection.'
      columns: tokenValidationColumns
    }
  }
}

// Tokenwarden's own audit trail: an intent row before each response step and an outcome row after.
resource tokenwardenAuditTable 'Microsoft.OperationalInsights/workspaces/tables@2025-02-01' = {
  parent: workspace
  name: tokenwardenAudit.table
  properties: {
    plan: 'Analytics'
    schema: {
      name: tokenwardenAudit.table
      description: 'Tokenwarden response audit: one intent and one outcome row per step.'
      columns: tokenwardenAuditColumns
    }
  }
}

output location string = workspace.location
output customerId string = workspace.properties.customerId
output tokenValidationTable string = tokenValidationTable.name
output tokenwardenAuditTable string = tokenwardenAuditTable.name
