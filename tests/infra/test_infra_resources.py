"""Graph app roles, storage names, data collection and the two custom tables, checked against the code."""

from __future__ import annotations

import json
from typing import Any

from infra_bicep import INFRA, ROOT, body, infra_file, loaded_file, resolve, strings

import shared.core.resource_names as names

GRAPH_APP_ROLES = {
    "User.Read.All",
    "User.RevokeSessions.All",
    "User.EnableDisableAccount.All",
    "IdentityRiskyUser.ReadWrite.All",
    "Application.Read.All",
    "RoleManagement.Read.Directory",
}
PERMISSIONS_FILE = INFRA / "permissions.json"
SCHEMAS = ROOT / "shared" / "schemas"
AUDIT_COLUMNS = [
    ("TimeGenerated", "datetime"),
    ("CaseId", "string"),
    ("ActionId", "string"),
    ("InvocationId", "string"),
    ("Step", "string"),
    ("Target", "string"),
    ("Phase", "string"),
    ("Mode", "string"),
    ("Status", "string"),
    ("Actor", "string"),
    ("Detail", "dynamic"),
]


def contract(table: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMAS / f"{table}.json").read_text())
    return loaded


# --- Microsoft Graph ----------------------------------------------------------------------------


def test_graph_roles_are_exactly_the_documented_set() -> None:
    tree = infra_file("graph/graph-permissions.bicep")
    assert set(tree["extensions"]) == {"microsoftGraphV1"}
    # The roles come from infra/permissions.json, the file the simulator grants from: one source.
    mapped = tree["variables"]["graphAppRoles"]["value"]["function"]
    assert mapped["type"] == "map"
    source = mapped["parameters"]["arg_1"]["operator"]["operands"]
    assert loaded_file(INFRA / "graph" / "graph-permissions.bicep", source["operand_1"], "load_json_content") \
        == PERMISSIONS_FILE
    assert source["operand_2"] == "graphAppRoles"
    roles = json.loads(PERMISSIONS_FILE.read_text())["graphAppRoles"]
    assert {role["value"] for role in roles} == GRAPH_APP_ROLES
    assignments = tree["resources"]["appRoleAssignments"]
    assert (assignments["type"], assignments["api_version"]) == ("Microsoft.Graph/appRoleAssignedTo", "v1.0")
    assert assignments["config"]["loop_type"]["detail"]["array_name"] == "graphAppRoles"
    # Looked up by value on the Graph service principal, not by a hard-coded app-role id.
    role_id = body(assignments)["appRoleId"]
    assert {"appRoles", "value", "appRole"} <= set(strings(role_id))
    graph = tree["resources"]["microsoftGraph"]
    assert graph["existing"] and graph["type"] == "Microsoft.Graph/servicePrincipals"
    assert resolve(tree, graph["config"]["appId"]) == "00000003-0000-0000-c000-000000000000"


def test_graph_permissions_are_optional_and_documented() -> None:
    main = infra_file("main.bicep")
    module = main["modules"]["graphPermissions"]
    assert module["detail"]["path"] == "graph/graph-permissions.bicep"
    assert module["config"]["condition"] == "grantGraphPermissions"
    assert main["parameters"]["grantGraphPermissions"]["default"] is False
    permissions = (ROOT / "docs" / "permissions.md").read_text()
    for role in GRAPH_APP_ROLES:
        assert f"`{role}`" in permissions, role


def test_the_approver_app_role_is_optional_and_named_by_the_setting() -> None:
    """infra/graph/approver-role.bicep: the API app registration with one app role for users, whose value is the
    APPROVER_ROLE the code checks; main.bicep deploys it only when asked (it needs Entra rights)."""
    tree = infra_file("graph/approver-role.bicep")
    app = tree["resources"]["apiApp"]
    assert (app["type"], app["api_version"]) == ("Microsoft.Graph/applications", "v1.0")
    [role] = body(app)["appRoles"]
    assert role["allowedMemberTypes"] == ["User"] and role["isEnabled"] is True
    assert "approverRole" in set(strings(role["value"])) and "approverRoleId" in set(strings(role["id"]))
    assert tree["parameters"]["approverRole"]["default"] == "Tokenwarden.Approver"
    assignments = tree["resources"]["approverAssignments"]
    assert (assignments["type"], assignments["api_version"]) == ("Microsoft.Graph/appRoleAssignedTo", "v1.0")
    main = infra_file("main.bicep")
    module = main["modules"]["approverAppRole"]
    assert module["detail"]["path"] == "graph/approver-role.bicep"
    assert module["config"]["condition"] == "createApproverRole"
    assert main["parameters"]["createApproverRole"]["default"] is False
    assert body(module)["params"]["approverRole"] == "approverRole"  # the APPROVER_ROLE parameter, not a copy


# --- Storage ------------------------------------------------------------------------------------


def test_storage_tables_queues_and_containers_are_those_the_code_uses() -> None:
    tree = infra_file("app/storage.bicep")
    assert tree["variables"]["tableNames"]["value"] == list(names.STORAGE_TABLES)
    assert tree["variables"]["queueNames"]["value"] == [names.QUEUE_RESPOND, f"{names.QUEUE_RESPOND}-poison"]
    assert resolve(tree, "signingKeysContainerName") == names.BLOB_CONTAINER_SIGNING_KEYS
    loops = {
        symbol: declaration["config"]["loop_type"]["detail"]["array_name"]
        for symbol, declaration in tree["resources"].items()
        if "loop_type" in declaration["config"]
    }
    assert loops == {"tables": "tableNames", "queues": "queueNames", "containers": "containerNames"}
    assert tree["variables"]["containerNames"]["value"] == ["deploymentContainerName", "signingKeysContainerName"]


def test_storage_allows_no_shared_key_or_public_blob() -> None:
    account = body(infra_file("app/storage.bicep")["resources"]["account"])["properties"]
    assert account["allowSharedKeyAccess"] is False
    assert account["allowBlobPublicAccess"] is False
    assert account["minimumTlsVersion"] == "TLS1_2"
    containers = body(infra_file("app/storage.bicep")["resources"]["containers"])
    assert containers["properties"]["publicAccess"] == "None"


def test_application_insights_has_local_auth_disabled() -> None:
    component = body(infra_file("app/appinsights.bicep")["resources"]["appInsights"])["properties"]
    assert component["DisableLocalAuth"] is True


# --- Data collection and custom tables ----------------------------------------------------------


def test_audit_contract_is_the_documented_schema() -> None:
    audit = contract("TokenwardenAudit_CL")
    assert audit["table"] == "TokenwardenAudit_CL"
    assert [(c["name"], c["type"]) for c in audit["columns"]] == AUDIT_COLUMNS


def test_contracts_avoid_reserved_column_names() -> None:
    for table in ("TokenValidation_CL", "TokenwardenAudit_CL"):
        columns = {c["name"] for c in contract(table)["columns"]}
        assert not columns & {"TenantId", "Type"}, table
        assert "TimeGenerated" in columns


def loaded_contract(relative: str, variable: str) -> dict[str, Any]:
    path = INFRA / relative
    loaded = loaded_file(path, infra_file(relative)["variables"][variable]["value"], "load_json_content")
    assert loaded is not None and loaded.parent == SCHEMAS.resolve(), f"{relative}: {variable}"
    found: dict[str, Any] = json.loads(loaded.read_text())
    return found


def test_dcr_streams_have_the_contract_columns() -> None:
    tree = infra_file("monitoring/data-collection.bicep")
    rule = body(tree["resources"]["rule"])["properties"]
    streams = rule["streamDeclarations"]
    by_table = {"tokenValidation": "TokenValidation_CL", "tokenwardenAudit": "TokenwardenAudit_CL"}
    assert len(streams) == len(by_table)
    for variable, table in by_table.items():
        loaded = loaded_contract("monitoring/data-collection.bicep", variable)
        assert loaded == contract(table)
        # The stream `Custom-<table>` declares exactly the loaded contract's columns.
        (declaration,) = [d for key, d in streams.items() if f"{variable}Stream" in key]
        assert declaration["columns"] == {
            "operator": {"type": "property_accessor", "operands": {"operand_1": variable, "operand_2": "columns"}}
        }
        assert resolve(tree, f"{variable}Stream") == "Custom-${" + variable + ".table}"
    flows = rule["dataFlows"]
    assert sorted(f["outputStream"] for f in flows) == sorted(f"{v}Stream" for v in by_table)
    assert rule["dataCollectionEndpointId"] is not None


def test_token_validation_dcr_columns_equal_the_detection_contract() -> None:
    loaded = loaded_contract("monitoring/data-collection.bicep", "tokenValidation")
    assert loaded["columns"] == contract("TokenValidation_CL")["columns"]


def test_workspace_tables_are_built_from_the_same_contracts() -> None:
    tree = infra_file("monitoring/log-tables.bicep")
    for variable, table in (("tokenValidation", "TokenValidation_CL"), ("tokenwardenAudit", "TokenwardenAudit_CL")):
        assert loaded_contract("monitoring/log-tables.bicep", variable) == contract(table)
        columns = tree["variables"][f"{variable}Columns"]["value"]
        assert columns["loop_type"]["detail"]["array_name"] == {
            "operator": {"type": "property_accessor", "operands": {"operand_1": variable, "operand_2": "columns"}}
        }


def test_workbook_covers_actions_cases_and_containment() -> None:
    workbook = json.loads((INFRA / "monitoring" / "workbook.json").read_text())
    queries = {item["name"]: item["content"]["query"] for item in workbook["items"] if item["type"] == 3}
    assert {"actions-over-time", "cases-by-state", "time-to-containment"} <= set(queries)
    for name, query in queries.items():
        assert query.startswith("TokenwardenAudit_CL"), name
    resource = body(infra_file("monitoring/workbook.bicep")["resources"]["workbook"])
    assert resource["properties"]["serializedData"]["function"]["parameters"]["file_path"] == "workbook.json"
