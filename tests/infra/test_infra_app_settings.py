"""Every app setting the code reads is defined on the Function App, with the registry's default.

Two sources of names: the registry (shared/core/settings.py, SETTINGS) and the `%NAME%` expressions in the
bindings of the indexed functions (function_app.app). Both must be app settings in the Bicep.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from typing import Any

from infra_bicep import body, infra_file, modules, strings

import function_app
import shared.core.settings

# Settings whose value the deployment derives rather than takes from a parameter.
DERIVED = {
    "LOG_ANALYTICS_WORKSPACE_ID": "the customer id of the workspace the deployment uses",
    "ENTRA_TENANT_ID": "a parameter defaulting to the deployment's own tenant, not the registry's ''",
}
SETTING_REFERENCE = re.compile(r"%([A-Za-z0-9_]+)%")


def main() -> dict[str, Any]:
    return infra_file("main.bicep")


def tokenwarden_settings() -> dict[str, Any]:
    settings: dict[str, Any] = main()["variables"]["tokenwardenSettings"]["value"]
    return settings


def all_app_settings() -> set[str]:
    tree = main()
    host = infra_file("app/api.bicep")["variables"]["hostSettings"]["value"]
    return set(tokenwarden_settings()) | set(tree["variables"]["deploymentSettings"]["value"]) | set(host)


@functools.cache
def indexed_functions() -> dict[str, dict[str, Any]]:
    """What the host indexes: each function's function.json, by function name.

    azure-functions 1.26 indexes a FunctionApp only once (a second get_functions() reports every
    name as a duplicate), so index a freshly imported app rather than one another test indexed.
    """
    module = importlib.reload(function_app)
    return {f.get_function_name(): json.loads(f.get_function_json()) for f in module.app.get_functions()}


def binding_setting_references() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for name, definition in indexed_functions().items():
        for binding in definition["bindings"]:
            for text in strings(binding):
                for setting in SETTING_REFERENCE.findall(text):
                    found.setdefault(setting, set()).add(name)
    return found


def test_the_function_app_gets_every_settings_group() -> None:
    app_settings = body(modules(main())["functionApp"])["params"]["appSettings"]
    assert set(strings(app_settings)) >= {"tokenwardenSettings", "deploymentSettings"}
    site = body(infra_file("app/api.bicep")["resources"]["site"])
    assert "allSettings" in set(strings(site["properties"]["siteConfig"]["appSettings"]))


def test_every_registry_setting_is_an_app_setting() -> None:
    missing = sorted(spec.name for spec in shared.core.settings.SETTINGS if spec.name not in tokenwarden_settings())
    assert not missing, f"add these to tokenwardenSettings in infra/main.bicep: {missing}"


def test_registry_settings_default_as_the_registry_does() -> None:
    params = main()["parameters"]
    wrong = {}
    for spec in shared.core.settings.SETTINGS:
        value = tokenwarden_settings().get(spec.name)
        if spec.name in DERIVED:
            continue
        assert isinstance(value, str) and value in params, f"{spec.name} must come from a parameter"
        if params[value].get("default") != spec.default:
            wrong[spec.name] = (params[value].get("default"), spec.default)
    assert not wrong, f"Bicep default != registry default: {wrong}"


def test_every_deployment_setting_is_set_by_the_deployment() -> None:
    deployment = set(main()["variables"]["deploymentSettings"]["value"])
    missing = sorted(spec.name for spec in shared.core.settings.DEPLOYMENT_SETTINGS if spec.name not in deployment)
    assert not missing, f"add these to deploymentSettings in infra/main.bicep: {missing}"


def test_every_host_storage_setting_is_a_host_setting() -> None:
    host = set(infra_file("app/api.bicep")["variables"]["hostSettings"]["value"])
    local_only = {"AzureWebJobsStorage"}
    missing = sorted(spec.name for spec in shared.core.settings.HOST_STORAGE_SETTINGS
                     if spec.name not in host and spec.name not in local_only)
    assert not missing, f"add these to hostSettings in infra/app/api.bicep: {missing}"


def test_every_host_telemetry_setting_is_a_host_setting() -> None:
    host = set(infra_file("app/api.bicep")["variables"]["hostSettings"]["value"])
    missing = sorted(spec.name for spec in shared.core.settings.HOST_TELEMETRY_SETTINGS if spec.name not in host)
    assert not missing, f"add these to hostSettings in infra/app/api.bicep: {missing}"


def test_derived_settings_still_exist_in_the_registry() -> None:
    registry = {spec.name for spec in shared.core.settings.SETTINGS}
    assert set(DERIVED) <= registry


def test_every_binding_expression_names_an_app_setting() -> None:
    references = binding_setting_references()
    assert "SCAN_SCHEDULE" in references  # the scan timer is always there
    missing = {name: sorted(fns) for name, fns in references.items() if name not in all_app_settings()}
    assert not missing, f"%NAME% used by bindings but not an app setting in infra/: {missing}"


def test_host_storage_is_identity_based() -> None:
    host = infra_file("app/api.bicep")["variables"]["hostSettings"]["value"]
    assert host["AzureWebJobsStorage__credential"] == "managedidentity"
    for service in ("blob", "queue", "table"):
        assert f"AzureWebJobsStorage__{service}ServiceUri" in host
    assert "AzureWebJobsStorage" not in all_app_settings()  # no connection string
    assert "AZURE_CLIENT_ID" in host
    assert "Authorization=AAD" in host["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]


def test_flex_consumption_python_311() -> None:
    api_bicep = infra_file("app/api.bicep")
    plan = body(api_bicep["resources"]["plan"])
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    site = body(api_bicep["resources"]["site"])
    assert site["kind"] == "functionapp,linux"
    assert site["identity"]["type"] == "UserAssigned"
    config = site["properties"]["functionAppConfig"]
    assert config["runtime"] == {"name": "python", "version": "3.11"}
    assert config["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    # Flex Consumption rejects these: the runtime lives in functionAppConfig.
    assert not {"FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION"} & all_app_settings()


def test_event_grid_trigger_is_the_subscription_target() -> None:
    # Every Event Grid subscription (Key Vault, inbound topic events) delivers to the function named in
    # topic-subscription.bicep.
    target = infra_file("app/topic-subscription.bicep")["parameters"]["functionName"]["default"]
    event_grid = [
        name
        for name, definition in indexed_functions().items()
        if any(b["type"] == "eventGridTrigger" for b in definition["bindings"])
    ]
    assert set(event_grid) <= {target}


def test_the_deployment_passes_its_own_cloud_through() -> None:
    """AZURE_CLOUD is the cloud the template is deployed to (environment().name), not a parameter to get wrong."""
    value = main()["variables"]["deploymentSettings"]["value"]["AZURE_CLOUD"]
    assert value == {"operator": {"type": "property_accessor", "operands": {
        "operand_1": {"function": {"type": "environment"}}, "operand_2": "name"}}}
    params = main()["parameters"]
    for endpoint in ("graphEndpoint", "armEndpoint", "logAnalyticsEndpoint"):
        assert params[endpoint]["default"] == "", f"{endpoint} must default to the cloud's (empty)"

def test_the_deployment_never_sets_platform_or_local_only_settings() -> None:
    """WEBSITE_AUTH_ENABLED is worth trusting only when App Service injected it, and INSECURE_LOCAL_APPROVALS
    must never reach Azure: neither may appear among the Function App's settings."""
    names = {spec.name for spec in (*shared.core.settings.PLATFORM_SETTINGS, *shared.core.settings.LOCAL_ONLY_SETTINGS)}
    assert names == {"WEBSITE_AUTH_ENABLED", "INSECURE_LOCAL_APPROVALS"}
    assert not names & all_app_settings()
    assert "APPROVER_ROLE" in all_app_settings()  # the guard reads the same settings that carry a real one
