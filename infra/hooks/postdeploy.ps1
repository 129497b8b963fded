# azd postdeploy hook (Windows): deploy infra/postdeploy.bicep once the Function App code is running.
# Same steps as postdeploy.sh; needs the Azure CLI signed in to the same tenant as azd.
$ErrorActionPreference = 'Stop'

foreach ($name in 'AZURE_ENV_NAME', 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME',
                  'SENTINEL_WORKSPACE_RESOURCE_ID', 'SENTINEL_ANALYTIC_RULE_IDS', 'EVENT_GRID_INBOUND_TOPIC_NAME') {
    if (-not [Environment]::GetEnvironmentVariable($name)) {
        throw "postdeploy: $name is not set: run azd provision first"
    }
}
if (-not (Get-Command az -ErrorAction SilentlyContinue)) { throw 'postdeploy: the Azure CLI (az) is required' }

# Microsoft Sentinel's own service principal (the same appId in every tenant) runs playbooks.
$sentinelAppId = '98785600-1bb7-4fb9-b9fa-19afe2c8a360'
$sentinelSp = az ad sp show --id $sentinelAppId --query id -o tsv
if ($LASTEXITCODE -ne 0 -or -not $sentinelSp) { $sentinelSp = $env:SENTINEL_SP_OBJECT_ID }
if (-not $sentinelSp) {
    throw "postdeploy: cannot read the Microsoft Sentinel service principal ($sentinelAppId); set SENTINEL_SP_OBJECT_ID with azd env set"
}

# Sentinel may already hold its role on this resource group under another name (the portal's "Manage playbook
# permissions" names assignments at random); ARM refuses a second one (RoleAssignmentExists), so reuse it.
$rgScope = "/subscriptions/$env:AZURE_SUBSCRIPTION_ID/resourceGroups/$env:AZURE_RESOURCE_GROUP"
$existingAssignment = az role assignment list --subscription $env:AZURE_SUBSCRIPTION_ID --assignee $sentinelSp `
    --role 'f4c81013-99ee-4d62-a7ee-b3f1f648599a' --scope $rgScope --query "[?scope=='$rgScope'].name | [0]" -o tsv
if ($LASTEXITCODE -ne 0) { $existingAssignment = '' }

$parameters = @{
    '$schema'      = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#'
    contentVersion = '1.0.0.0'
    parameters     = @{
        environmentName                  = @{ value = $env:AZURE_ENV_NAME }
        functionAppName                  = @{ value = $env:AZURE_FUNCTION_APP_NAME }
        workspaceResourceId              = @{ value = $env:SENTINEL_WORKSPACE_RESOURCE_ID }
        analyticRuleIds                  = @{ value = @(ConvertFrom-Json $env:SENTINEL_ANALYTIC_RULE_IDS) }
        keyVaultResourceId               = @{ value = "$env:KEY_VAULT_RESOURCE_ID" }
        keyVaultSystemTopicName          = @{ value = "$env:KEY_VAULT_SYSTEM_TOPIC_NAME" }
        inboundTopicName                 = @{ value = $env:EVENT_GRID_INBOUND_TOPIC_NAME }
        sentinelServicePrincipalObjectId = @{ value = $sentinelSp }
        existingSentinelAutomationAssignment = @{ value = "$existingAssignment" }
    }
}
$file = New-TemporaryFile
try {
    $parameters | ConvertTo-Json -Depth 5 | Set-Content -Path $file -Encoding utf8
    $template = Join-Path $PSScriptRoot '..' 'postdeploy.bicep'
    for ($attempt = 1; ; $attempt++) {
        az deployment group create --subscription $env:AZURE_SUBSCRIPTION_ID --resource-group $env:AZURE_RESOURCE_GROUP `
            --name tokenwarden-postdeploy --template-file $template --parameters "@$file" --only-show-errors --output none
        if ($LASTEXITCODE -eq 0) { break }
        if ($attempt -ge 3) { throw 'postdeploy: deployment failed 3 times; rerun with: azd hooks run postdeploy' }
        Write-Warning 'postdeploy: retrying in 60 s (the Function host may still be starting)'
        Start-Sleep -Seconds 60
    }
} finally {
    Remove-Item $file -ErrorAction SilentlyContinue
}
Write-Output 'postdeploy: Event Grid subscriptions, Sentinel playbook and automation rule are in place.'
