// A Sentinel workbook over TokenwardenAudit_CL: response actions over time, cases by state, and
// time to containment. Its definition is monitoring/workbook.json.

@description('Azure region.')
param location string

param tags object = {}

@description('Resource id of the Log Analytics workspace the workbook queries.')
param workspaceResourceId string

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'tokenwarden-audit-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Tokenwarden response audit'
    category: 'sentinel'
    version: 'Notebook/1.0'
    sourceId: workspaceResourceId
    serializedData: loadTextContent('workbook.json')
  }
}

output id string = workbook.id
