#!/bin/sh
# azd postdeploy hook: deploy infra/postdeploy.bicep once the Function App code is running.
# azd exports the environment's values (main.bicep outputs included) to this script.
# Needs the Azure CLI, signed in to the same tenant as azd (`az login`).
set -eu

: "${AZURE_ENV_NAME:?run through azd}"
: "${AZURE_SUBSCRIPTION_ID:?run through azd}"
: "${AZURE_RESOURCE_GROUP:?main.bicep output missing: run azd provision first}"
: "${AZURE_FUNCTION_APP_NAME:?main.bicep output missing: run azd provision first}"
: "${SENTINEL_WORKSPACE_RESOURCE_ID:?main.bicep output missing: run azd provision first}"
: "${SENTINEL_ANALYTIC_RULE_IDS:?main.bicep output missing: run azd provision first}"
: "${EVENT_GRID_INBOUND_TOPIC_NAME:?main.bicep output missing: run azd provision first}"

command -v az >/dev/null 2>&1 || { echo "postdeploy: the Azure CLI (az) is required" >&2; exit 1; }

# Microsoft Sentinel's own service principal (the same appId in every tenant) runs playbooks; it is
# granted Microsoft Sentinel Automation Contributor on this resource group by postdeploy.bicep.
sentinel_app_id=98785600-1bb7-4fb9-b9fa-19afe2c8a360
sentinel_sp=$(az ad sp show --id "$sentinel_app_id" --query id -o tsv) || {
  echo "postdeploy: cannot read the Microsoft Sentinel service principal ($sentinel_app_id)." >&2
  echo "Ask an Entra administrator for its object id and run: azd env set SENTINEL_SP_OBJECT_ID <id>" >&2
  sentinel_sp=${SENTINEL_SP_OBJECT_ID:-}
}
[ -n "$sentinel_sp" ] || exit 1

# Sentinel may already hold its role on this resource group under another name (the portal's "Manage playbook
# permissions" names assignments at random); ARM refuses a second one (RoleAssignmentExists), so reuse it.
automation_contributor=f4c81013-99ee-4d62-a7ee-b3f1f648599a
rg_scope="/subscriptions/$AZURE_SUBSCRIPTION_ID/resourceGroups/$AZURE_RESOURCE_GROUP"
existing_assignment=$(az role assignment list --subscription "$AZURE_SUBSCRIPTION_ID" --assignee "$sentinel_sp" \
  --role "$automation_contributor" --scope "$rg_scope" --query "[?scope=='$rg_scope'].name | [0]" -o tsv) || \
  existing_assignment=""

params=$(mktemp)
trap 'rm -f "$params"' EXIT
cat >"$params" <<JSON
{
  "\$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "environmentName": { "value": "$AZURE_ENV_NAME" },
    "functionAppName": { "value": "$AZURE_FUNCTION_APP_NAME" },
    "workspaceResourceId": { "value": "$SENTINEL_WORKSPACE_RESOURCE_ID" },
    "analyticRuleIds": { "value": $SENTINEL_ANALYTIC_RULE_IDS },
    "keyVaultResourceId": { "value": "${KEY_VAULT_RESOURCE_ID:-}" },
    "keyVaultSystemTopicName": { "value": "${KEY_VAULT_SYSTEM_TOPIC_NAME:-}" },
    "inboundTopicName": { "value": "$EVENT_GRID_INBOUND_TOPIC_NAME" },
    "sentinelServicePrincipalObjectId": { "value": "$sentinel_sp" },
    "existingSentinelAutomationAssignment": { "value": "$existing_assignment" }
  }
}
JSON

here=$(cd "$(dirname "$0")" && pwd)
# The host creates its keys when it first starts after the deployment; retry while it warms up.
attempt=1
until az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name "tokenwarden-postdeploy" \
  --template-file "$here/../postdeploy.bicep" \
  --parameters "@$params" \
  --only-show-errors --output none; do
  if [ "$attempt" -ge 3 ]; then
    echo "postdeploy: deployment failed $attempt times; rerun with: azd hooks run postdeploy" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  echo "postdeploy: retrying in 60 s (the Function host may still be starting)" >&2
  sleep 60
done
echo "postdeploy: Event Grid subscriptions, Sentinel playbook and automation rule are in place."
