// The Sentinel automation rule that runs the Tokenwarden playbook when one of Tokenwarden's analytics
// rules creates an incident. Deployed into the workspace's resource group, after the playbook exists
// and Sentinel has been granted the right to run it (postdeploy.bicep).

@description('Name of the Log Analytics workspace with Microsoft Sentinel (in this resource group).')
param workspaceName string

@description('Resource id of the playbook (Logic App).')
param playbookResourceId string

@description('Resource ids of the Tokenwarden analytics rules whose incidents go to the playbook.')
@minLength(1)
param analyticRuleIds array

@description('Position among the workspace\'s automation rules (1 runs first).')
@minValue(1)
@maxValue(1000)
param order int = 100

resource workspace 'Microsoft.OperationalInsights/workspaces@2025-02-01' existing = {
  name: workspaceName
}

resource runPlaybook 'Microsoft.SecurityInsights/automationRules@2025-09-01' = {
  scope: workspace
  name: guid(workspace.id, 'tokenwarden', 'run-playbook')
  properties: {
    displayName: 'Tokenwarden: send incidents to the responder'
    order: order
    triggeringLogic: {
      isEnabled: true
      triggersOn: 'Incidents'
      triggersWhen: 'Created'
      conditions: [
        {
          conditionType: 'Property'
          conditionProperties: {
            propertyName: 'IncidentRelatedAnalyticRuleIds'
            operator: 'Contains'
            propertyValues: analyticRuleIds
          }
        }
      ]
    }
    actions: [
      {
        order: 1
        actionType: 'RunPlaybook'
        actionConfiguration: {
          logicAppResourceId: playbookResourceId
          tenantId: tenant().tenantId
        }
      }
    ]
  }
}

output id string = runPlaybook.id
