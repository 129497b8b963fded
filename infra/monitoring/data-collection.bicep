// Data collection endpoint and rule for the Logs Ingestion API: apps send TokenValidation_CL rows,
// Tokenwarden sends TokenwardenAudit_CL rows. Both must be in the workspace's region. The stream
// columns are loaded from shared/schemas, the same contracts the tables are built from.

@description('DCE name.')
param endpointName string

@description('DCR name.')
param ruleName string

@description('Region of the Log Analytics workspace.')
param location string

param tags object = {}

@description('Resource id of the Log Analytics workspace.')
param workspaceResourceId string

var tokenValidation = loadJsonContent('../../shared/schemas/TokenValidation_CL.json')
var tokenwardenAudit = loadJsonContent('../../shared/schemas/TokenwardenAudit_CL.json')
var tokenValidationStream = 'Custom-${tokenValidation.table}'
var tokenwardenAuditStream = 'Custom-${tokenwardenAudit.table}'

resource endpoint 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: endpointName
  location: location
  tags: tags
  properties: {
    description: 'Tokenwarden logs ingestion'
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource rule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: ruleName
  location: location
  tags: tags
  properties: {
    description: 'Tokenwarden: token validations from apps, and the response audit trail.'
    dataCollectionEndpointId: endpoint.id
    streamDeclarations: {
      '${tokenValidationStream}': {
        columns: tokenValidation.columns
      }
      '${tokenwardenAuditStream}': {
        columns: tokenwardenAudit.columns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspaceResourceId
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          tokenValidationStream
        ]
        destinations: [
          'workspace'
        ]
        transformKql: 'source'
        outputStream: tokenValidationStream
      }
      {
        streams: [
          tokenwardenAuditStream
        ]
        destinations: [
          'workspace'
        ]
        transformKql: 'source'
        outputStream: tokenwardenAuditStream
      }
    ]
  }
}

output endpointId string = endpoint.id
output logsIngestionEndpoint string = endpoint.properties.logsIngestion.endpoint
output ruleId string = rule.id
output ruleName string = rule.name
output ruleImmutableId string = rule.properties.immutableId
output tokenValidationStream string = tokenValidationStream
output tokenwardenAuditStream string = tokenwardenAuditStream
