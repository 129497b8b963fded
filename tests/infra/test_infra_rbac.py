"""Azure RBAC: every role assignment uses a known built-in role, on one resource, never the subscription.

Role definition ids are held in named variables (one per role, with a comment naming it); each
assignment's scope is a resource symbol whose type is read from the same file, and its grantee is the
principal parameter it names (or the principal list its loop runs over).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_bicep import GUID, INFRA, ROOT, bicep_files, body, parse, resolve, target_scope

CUSTOM_SITE_RESTART = "roleDefinitionId"
"""The custom role's id reaches its assignment as this parameter (app/site-restart-role.bicep's output)."""
KNOWN_ROLES = {
    "3e150937-b8fe-4cfb-8069-0eaf05ecd056": "Microsoft Sentinel Responder",
    "8d289c81-5878-46d4-8554-54e1e3d8b5cb": "Microsoft Sentinel Reader",
    "f4c81013-99ee-4d62-a7ee-b3f1f648599a": "Microsoft Sentinel Automation Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    CUSTOM_SITE_RESTART: "Tokenwarden site restart (custom)",
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
}

# Grantees: Tokenwarden's identity is the `principalId` parameter of every module that takes one
# (test_tokenwarden_is_the_principal_id_of_every_module); the others are named by their parameter.
TOKENWARDEN = "principalId"

# The whole permission model: which role, on which kind of resource (and which one, where a file holds
# two of a kind), for whom. A new grant, a new grantee, or a grant moved to a broader scope or to another
# resource changes this set and must be reviewed (and documented in docs/permissions.md).
EXPECTED_GRANTS = {
    ("Microsoft Sentinel Responder", "Microsoft.OperationalInsights/workspaces", "workspace", TOKENWARDEN),
    ("Microsoft Sentinel Reader", "Microsoft.OperationalInsights/workspaces", "workspace", "playbookPrincipalId"),
    ("Microsoft Sentinel Automation Contributor", "resourceGroup", "resourceGroup",
     "sentinelServicePrincipalObjectId"),
    ("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts", "storageAccount", TOKENWARDEN),
    ("Storage Queue Data Contributor", "Microsoft.Storage/storageAccounts", "storageAccount", TOKENWARDEN),
    ("Storage Table Data Contributor", "Microsoft.Storage/storageAccounts", "storageAccount", TOKENWARDEN),
    ("Storage Blob Data Reader", "Microsoft.Storage/storageAccounts/blobServices/containers", "signingKeysContainer",
     "signingKeysReaderPrincipalIds"),
    ("Monitoring Metrics Publisher", "Microsoft.Insights/components", "applicationInsights", TOKENWARDEN),
    ("Monitoring Metrics Publisher", "Microsoft.Insights/dataCollectionRules", "dataCollectionRule", TOKENWARDEN),
    ("Monitoring Metrics Publisher", "Microsoft.Insights/dataCollectionRules", "dataCollectionRule",
     "tokenValidationPublisherPrincipalIds"),
    # Only Tokenwarden may publish Tokenwarden.SigningKeys.Untrusted; the inbound publishers send
    # elsewhere (Data Sender cannot be narrowed to event types: test_infra_events.py).
    ("EventGrid Data Sender", "Microsoft.EventGrid/topics", "outboundTopic", TOKENWARDEN),
    ("EventGrid Data Sender", "Microsoft.EventGrid/topics", "inboundTopic", "eventPublisherPrincipalIds"),
    # Read and restart on each registered site, nothing on plans (a plan's role does not reach its sites).
    ("Tokenwarden site restart (custom)", "Microsoft.Web/sites", "site", TOKENWARDEN),
}


@dataclass(frozen=True)
class Grant:
    file: Path
    symbol: str
    role: str
    scope: str
    scope_symbol: str
    grantee: str

    def model(self) -> tuple[str, str, str, str]:
        return (KNOWN_ROLES[self.role], self.scope, self.scope_symbol, self.grantee)


def role_assignments() -> list[Grant]:
    grants = []
    for path in bicep_files():
        tree = parse(path)
        for symbol, declaration in tree.get("resources", {}).items():
            if declaration["type"] != "Microsoft.Authorization/roleAssignments":
                continue
            config = body(declaration)
            if config["properties"]["roleDefinitionId"] == CUSTOM_SITE_RESTART:
                assert path.name == "site-restart.bicep", f"{path}:{symbol}"
                role_id = CUSTOM_SITE_RESTART
            else:
                definition = config["properties"]["roleDefinitionId"]["function"]
                assert definition["type"] == "subscription_resource_id", f"{path}:{symbol}"
                assert definition["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
                role_id = resolve(tree, definition["parameters"]["resource_name_1"])
            scope = config.get("scope")
            if scope is None:
                scope_type = scope_symbol = target_scope(tree)
            else:
                assert isinstance(scope, str), f"{path}:{symbol}: scope must be a resource symbol"
                scope_type, scope_symbol = tree["resources"][scope]["type"], scope
            grants.append(Grant(path, symbol, role_id, scope_type, scope_symbol, grantee(tree, declaration)))
    return grants


def grantee(tree: dict[str, Any], declaration: dict[str, Any]) -> str:
    """The principal parameter an assignment grants to, or the parameter its loop runs over."""
    principal = body(declaration)["properties"]["principalId"]
    loop = declaration["config"].get("loop_type")
    if loop is not None and loop["detail"]["item_name"] == principal:
        principal = loop["detail"]["array_name"]
    assert isinstance(principal, str) and principal in tree["parameters"], principal
    return principal


def test_role_assignments_are_found() -> None:
    assert len(role_assignments()) >= len(EXPECTED_GRANTS)


def test_every_role_is_a_known_built_in_role_or_the_custom_one() -> None:
    unknown = [g for g in role_assignments()
               if not ((GUID.match(g.role) or g.role == CUSTOM_SITE_RESTART) and g.role in KNOWN_ROLES)]
    assert not unknown


def test_no_role_assignment_at_subscription_scope() -> None:
    broad = [g for g in role_assignments() if g.scope in {"subscription", "managementGroup", "tenant"}]
    assert not broad


def test_the_grants_are_exactly_the_permission_model() -> None:
    actual = [g.model() for g in role_assignments()]
    assert len(actual) == len(set(actual)), "one role granted twice on one resource to one principal"
    assert set(actual) == EXPECTED_GRANTS


def test_tokenwarden_is_the_principal_id_of_every_module() -> None:
    # Every module main.bicep gives a `principalId` gets Tokenwarden's identity, so TOKENWARDEN means it.
    given = {symbol: body(module)["params"][TOKENWARDEN]
             for symbol, module in parse(INFRA / "main.bicep")["modules"].items()
             if TOKENWARDEN in body(module).get("params", {})}
    assert {"rbac", "workspaceRbac", "cacheRefreshRbac"} <= set(given)
    for symbol, value in given.items():
        operands = value["operator"]["operands"]
        assert operands["operand_1"] == "identity", symbol
        assert operands["operand_2"]["operator"]["operands"] == {"operand_1": "outputs", "operand_2": "principalId"}


def test_assignment_names_are_deterministic() -> None:
    for grant in role_assignments():
        name = body(parse(grant.file)["resources"][grant.symbol])["name"]
        assert name["function"]["type"] == "guid", f"{grant.file}:{grant.symbol}"


def test_role_id_variables_name_their_role() -> None:
    # Style: each role id in a named variable with a comment naming the role.
    for path in bicep_files():
        for line in path.read_text().splitlines():
            if line.startswith("var ") and "RoleId = '" in line:
                role_id = line.split("'")[1]
                assert line.rstrip().endswith(f"// {KNOWN_ROLES[role_id]}"), f"{path.name}: {line}"


def test_the_permission_model_is_documented() -> None:
    permissions = (ROOT / "docs" / "permissions.md").read_text()
    for role in {grant[0] for grant in EXPECTED_GRANTS}:
        assert role in permissions, role


def test_the_site_restart_role_allows_read_and_restart_only_from_the_one_permissions_file() -> None:
    permissions = json.loads((INFRA / "permissions.json").read_text())["azureRoles"]
    assert permissions["siteRestart"]["actions"] == ["Microsoft.Web/sites/read", "Microsoft.Web/sites/restart/action"]
    assert permissions["siteRestart"]["notActions"] == []
    tree = parse(INFRA / "app" / "site-restart-role.bicep")
    assert target_scope(tree) == "subscription"
    source = tree["variables"]["siteRestart"]["value"]
    assert "load_json_content" in json.dumps(source) and "../permissions.json" in json.dumps(source)
    role = body(tree["resources"]["role"])
    assert role["properties"]["type"] == "CustomRole"
    (grant,) = role["properties"]["permissions"]
    assert grant["actions"]["operator"]["operands"] == {"operand_1": "siteRestart", "operand_2": "actions"}
    assert body(tree["resources"]["role"])["name"]["function"]["type"] == "guid"
    # The built-in role the workspace grant names is the one whose actions the simulator enforces.
    workspace = parse(INFRA / "monitoring" / "workspace-rbac.bicep")
    assert resolve(workspace, "sentinelResponderRoleId") == permissions["sentinelResponder"]["roleDefinitionId"]


def test_an_existing_sentinel_automation_assignment_is_reused_not_duplicated() -> None:
    tree = parse(INFRA / "postdeploy.bicep")
    grant = tree["resources"]["sentinelRunsPlaybooks"]
    assert "existingSentinelAutomationAssignment" in json.dumps(grant["config"]["condition"])
    assert tree["parameters"]["existingSentinelAutomationAssignment"]["default"] == ""
    for hook in ("postdeploy.sh", "postdeploy.ps1"):
        text = (INFRA / "hooks" / hook).read_text()
        assert "az role assignment list" in text and "existingSentinelAutomationAssignment" in text, hook


def test_site_restart_only_on_registered_targets() -> None:
    main = parse(INFRA / "main.bicep")
    loop = main["modules"]["cacheRefreshRbac"]["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "cacheRefreshTargetResourceIds"
    assert main["parameters"]["cacheRefreshTargetResourceIds"]["default"] == []
    assert body(main["modules"]["cacheRefreshRbac"])["params"]["targetResourceId"] == loop["item_name"]
