// The Sentinel playbook: a Consumption Logic App with the Microsoft Sentinel incident trigger, through
// an API connection that authenticates with the Logic App's managed identity (no user consent, no
// secret). It posts the trigger body unchanged to Tokenwarden's POST /api/sentinel/incident.
//
// The call carries the `sentinel_incident` function's own key, never a host key: a host key also opens
// approve, respond and scan. `listkeys` on Microsoft.Web/sites/functions (bicep-types-az, Microsoft.Web
// "Function listkeys (Microsoft.Web/sites/functions@...)"; the keys it returns "ONLY work for this single
// function", Azure/azure-functions-host#3994) is read at deployment time into a SecureString workflow
// parameter (never returned by a GET of the workflow) and hidden from run history. A function's keys exist
// only once the host has indexed it, so this module is deployed after `azd deploy` (postdeploy.bicep).

@description('Azure region.')
param location string

param tags object = {}

@description('Logic App name.')
param playbookName string

@description('API connection name for the Microsoft Sentinel connector.')
param connectionName string

@description('Name of the Tokenwarden Function App (in this resource group).')
param functionAppName string

@description('The function behind POST /api/sentinel/incident (functions/sentinel.py, @function_name).')
param incidentFunctionName string = 'sentinel_incident'

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource incidentFunction 'Microsoft.Web/sites/functions@2024-04-01' existing = {
  parent: functionApp
  name: incidentFunctionName
}

resource sentinelConnection 'Microsoft.Web/connections@2016-06-01' = {
  name: connectionName
  location: location
  tags: tags
  kind: 'V1'
  properties: {
    displayName: connectionName
    customParameterValues: {}
    parameterValueType: 'Alternative'
    api: {
      id: subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')
    }
  }
}

resource playbook 'Microsoft.Logic/workflows@2019-05-01' = {
  name: playbookName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    state: 'Enabled'
    definition: {
      '$schema': 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#'
      contentVersion: '1.0.0.0'
      parameters: {
        '$connections': {
          type: 'Object'
          defaultValue: {}
        }
        incidentEndpoint: {
          type: 'String'
          defaultValue: ''
        }
        functionKey: {
          type: 'SecureString'
          defaultValue: ''
        }
      }
      triggers: {
        Microsoft_Sentinel_incident: {
          type: 'ApiConnectionWebhook'
          inputs: {
            host: {
              connection: {
                name: '@parameters(\'$connections\')[\'azuresentinel\'][\'connectionId\']'
              }
            }
            body: {
              callback_url: '@{listCallbackUrl()}'
            }
            path: '/incident-creation'
          }
        }
      }
      actions: {
        Post_incident_to_Tokenwarden: {
          type: 'Http'
          runAfter: {}
          inputs: {
            method: 'POST'
            uri: '@parameters(\'incidentEndpoint\')'
            headers: {
              'Content-Type': 'application/json'
              'x-functions-key': '@parameters(\'functionKey\')'
            }
            body: '@triggerBody()'
            retryPolicy: {
              type: 'exponential'
              count: 4
              interval: 'PT15S'
            }
          }
          runtimeConfiguration: {
            secureData: {
              properties: [
                'inputs'
              ]
            }
          }
        }
      }
      outputs: {}
    }
    parameters: {
      '$connections': {
        value: {
          azuresentinel: {
            connectionId: sentinelConnection.id
            connectionName: sentinelConnection.name
            id: subscriptionResourceId('Microsoft.Web/locations/managedApis', location, 'azuresentinel')
            connectionProperties: {
              authentication: {
                type: 'ManagedServiceIdentity'
              }
            }
          }
        }
      }
      incidentEndpoint: {
        value: 'https://${functionApp.properties.defaultHostName}/api/sentinel/incident'
      }
      functionKey: {
        value: incidentFunction.listKeys().default
      }
    }
  }
}

output id string = playbook.id
output name string = playbook.name
output principalId string = playbook.identity.principalId
