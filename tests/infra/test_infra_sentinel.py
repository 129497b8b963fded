"""Sentinel content: the analytics rules match shared/rules/*, and the automation chain is complete.

The Bicep keeps each rule's metadata next to `loadTextContent` of the rule's own rule.kql; these tests
keep that list and the rule folders from drifting apart.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

import pytest
from infra_bicep import INFRA, ROOT, body, infra_file, loaded_file, resolve, strings

RULES_DIR = ROOT / "shared" / "rules"
ANALYTIC_RULES = INFRA / "sentinel" / "analytic-rules.bicep"
# Rules that need a runtime list only Tokenwarden's own scan supplies: deployed disabled in Sentinel.
DISABLED_IN_SENTINEL = {"unpublished-signing-key", "consumer-key-for-org-app"}
FINDING_COLUMNS = {
    "FirstSeen",
    "LastSeen",
    "Count",
    "UserUpn",
    "UserObjectId",
    "AppId",
    "IpAddress",
    "KeyId",
    "TokenId",
    "Issuer",
    "TokenTenantId",
    "SourceTable",
    "Evidence",
}
# The AttackTactic values of Microsoft.SecurityInsights/alertRules@2025-09-01.
SENTINEL_TACTICS = {
    "Collection",
    "CommandAndControl",
    "CredentialAccess",
    "DefenseEvasion",
    "Discovery",
    "Execution",
    "Exfiltration",
    "Impact",
    "ImpairProcessControl",
    "InhibitResponseFunction",
    "InitialAccess",
    "LateralMovement",
    "Persistence",
    "PreAttack",
    "PrivilegeEscalation",
    "Reconnaissance",
    "ResourceDevelopment",
}


def rule_folders() -> dict[str, dict[str, Any]]:
    return {path.parent.name: tomllib.loads(path.read_text()) for path in sorted(RULES_DIR.glob("*/rule.toml"))}


def bicep_rules() -> dict[str, dict[str, Any]]:
    rules: list[dict[str, Any]] = infra_file("sentinel/analytic-rules.bicep")["variables"]["rules"]["value"]
    by_id = {rule["id"]: rule for rule in rules}
    assert len(by_id) == len(rules), "duplicate rule ids in analytic-rules.bicep"
    return by_id


def scheduled_rule() -> dict[str, Any]:
    return body(infra_file("sentinel/analytic-rules.bicep")["resources"]["analyticRules"])


def test_bicep_rules_and_rule_folders_are_the_same_set() -> None:
    assert set(bicep_rules()) == set(rule_folders())
    assert len(rule_folders()) >= 7


@pytest.mark.parametrize("rule_id", sorted(rule_folders()))
def test_bicep_metadata_matches_rule_toml(rule_id: str) -> None:
    toml, bicep = rule_folders()[rule_id], bicep_rules()[rule_id]
    assert bicep["title"] == toml["title"]
    assert bicep["severity"] == toml["severity"]
    assert bicep["tables"] == toml["tables"]
    assert bicep["queryFrequency"] == toml["sentinel"]["query_frequency"]
    assert bicep["queryPeriod"] == toml["sentinel"]["query_period"]
    assert bicep["tactics"] == toml["mitre"]["tactics"]
    assert bicep["techniques"] == toml["mitre"]["techniques"]
    assert set(bicep["tactics"]) <= SENTINEL_TACTICS
    # The stable API rejects sub-techniques ("The expected format is 'T####'"): each is reduced to its
    # technique, once.
    parents = list(dict.fromkeys(t.split(".")[0] for t in toml["mitre"]["techniques"]))
    assert bicep["sentinelTechniques"] == parents
    assert all(re.fullmatch(r"T\d{4}", t) for t in bicep["sentinelTechniques"])


@pytest.mark.parametrize("rule_id", sorted(rule_folders()))
def test_rule_query_is_loaded_from_the_rules_own_kql(rule_id: str) -> None:
    path = loaded_file(ANALYTIC_RULES, bicep_rules()[rule_id]["query"], "load_text_content")
    assert path == (RULES_DIR / rule_id / "rule.kql").resolve()
    query = path.read_text()
    assert len(query) < 10_000  # Sentinel's limit on a scheduled rule's query
    assert "declare query_parameters(" in query


def test_runtime_list_rules_are_deployed_disabled_with_the_reason() -> None:
    runtime_list_reason = resolve(infra_file("sentinel/analytic-rules.bicep"), "runtimeListReason")
    assert "disabled" in runtime_list_reason
    for rule_id, rule in bicep_rules().items():
        assert rule["enabled"] is (rule_id not in DISABLED_IN_SENTINEL), rule_id
        if rule_id in DISABLED_IN_SENTINEL:
            assert "${runtimeListReason}" in rule["description"], rule_id


def test_rules_deploy_only_where_their_tables_exist() -> None:
    # Sentinel rejects a rule whose query names a missing table: a new workspace has only the tables
    # this deployment creates, so main.bicep passes no connected tables for it.
    tree = infra_file("sentinel/analytic-rules.bicep")
    assert "connectedTables" in set(strings(tree["variables"]["availableTables"]["value"]))
    assert "TokenValidation_CL" in set(strings(tree["variables"]["availableTables"]["value"]))
    selection = set(strings(tree["variables"]["deployedRules"]["value"]))
    assert {"availableTables", "excludedRuleIds", "tables"} <= selection
    main = infra_file("main.bicep")
    passed = body(main["modules"]["analyticRules"])["params"]["connectedTables"]
    assert set(strings(passed)) >= {"createWorkspace", "connectedTables"}
    every_source = {t for toml in rule_folders().values() for t in toml["tables"]} - {"TokenValidation_CL"}
    assert set(main["parameters"]["connectedTables"]["default"]) == every_source


def test_every_rule_is_a_scheduled_rule_over_the_list() -> None:
    tree = infra_file("sentinel/analytic-rules.bicep")
    declaration = tree["resources"]["analyticRules"]
    assert declaration["type"] == "Microsoft.SecurityInsights/alertRules"
    assert declaration["api_version"] == "2025-09-01"
    assert declaration["config"]["loop_type"]["detail"]["array_name"] == "deployedRules"
    assert "rules" in set(strings(tree["variables"]["deployedRules"]["value"]))
    rule = scheduled_rule()
    assert rule["kind"] == "Scheduled"
    assert rule["properties"]["techniques"] == {
        "operator": {"type": "property_accessor", "operands": {"operand_1": "rule", "operand_2": "sentinelTechniques"}}
    }
    assert rule["scope"] == "workspace"
    properties = rule["properties"]
    required = "displayName query queryFrequency queryPeriod severity tactics techniques enabled description"
    assert set(required.split()) <= set(properties)
    assert properties["incidentConfiguration"]["createIncident"] is True


def test_entity_mappings_follow_the_finding_contract() -> None:
    tree = infra_file("sentinel/analytic-rules.bicep")
    properties = scheduled_rule()["properties"]
    mappings = resolve(tree, properties["entityMappings"])
    by_entity = {m["entityType"]: {f["identifier"]: f["columnName"] for f in m["fieldMappings"]} for m in mappings}
    assert by_entity == {
        "Account": {"AadUserId": "UserObjectId", "FullName": "UserUpn"},
        "IP": {"Address": "IpAddress"},
        "CloudApplication": {"AppId": "AppId"},
    }
    details = resolve(tree, properties["customDetails"])
    assert details == {c: c for c in ("KeyId", "TokenId", "Issuer", "TokenTenantId", "SourceTable")}
    mapped = {column for fields in by_entity.values() for column in fields.values()} | set(details.values())
    assert mapped <= FINDING_COLUMNS
    # Every column a rule names as an entity is mapped, as an entity or as a custom detail.
    for rule_id, toml in rule_folders().items():
        assert set(toml.get("entities", {}).values()) <= mapped, rule_id


def test_automation_rule_runs_the_playbook_for_tokenwarden_incidents() -> None:
    tree = infra_file("sentinel/automation-rule.bicep")
    declaration = tree["resources"]["runPlaybook"]
    assert declaration["type"] == "Microsoft.SecurityInsights/automationRules"
    assert declaration["api_version"] == "2025-09-01"
    properties = body(declaration)["properties"]
    assert properties["triggeringLogic"]["triggersOn"] == "Incidents"
    assert properties["triggeringLogic"]["triggersWhen"] == "Created"
    condition = properties["triggeringLogic"]["conditions"][0]["conditionProperties"]
    assert condition["propertyName"] == "IncidentRelatedAnalyticRuleIds"
    assert condition["propertyValues"] == "analyticRuleIds"
    (action,) = properties["actions"]
    assert action["actionType"] == "RunPlaybook"
    assert action["actionConfiguration"]["logicAppResourceId"] == "playbookResourceId"


def test_playbook_posts_the_incident_trigger_body_to_the_function() -> None:
    workflow = body(infra_file("sentinel/playbook.bicep")["resources"]["playbook"])
    definition = workflow["properties"]["definition"]
    (trigger,) = definition["triggers"].values()
    assert trigger["type"] == "ApiConnectionWebhook"
    assert trigger["inputs"]["path"] == "/incident-creation"
    (action,) = definition["actions"].values()
    assert action["type"] == "Http"
    assert action["inputs"]["method"] == "POST"
    assert action["inputs"]["body"] == "@triggerBody()"
    assert definition["parameters"]["functionKey"]["type"] == "SecureString"
    parameters = workflow["properties"]["parameters"]
    assert parameters["incidentEndpoint"]["value"].endswith("/api/sentinel/incident")
    # The key of the one function behind the route (listkeys on Microsoft.Web/sites/functions), never a host key:
    # a host key would also open approve, respond and scan.
    key = parameters["functionKey"]["value"]["operator"]["operands"]
    assert key["operand_2"] == "default"
    assert key["operand_1"]["operator"]["operands"] == {"operand_1": "incidentFunction", "func_name": "listKeys"}
    playbook = infra_file("sentinel/playbook.bicep")
    function = playbook["resources"]["incidentFunction"]
    assert (function["type"], function["existing"], function["config"]["parent"]) == (
        "Microsoft.Web/sites/functions", True, "functionApp")
    name = playbook["parameters"][function["config"]["name"]]["default"]
    assert f'@bp.function_name("{name}")' in (ROOT / "functions" / "sentinel.py").read_text()
    assert "host/default" not in (INFRA / "sentinel" / "playbook.bicep").read_text()
    connection = parameters["'$connections'"]["value"]["azuresentinel"]  # pycep keeps a quoted key's quotes
    assert connection["connectionProperties"]["authentication"]["type"] == "ManagedServiceIdentity"
    api_connection = body(infra_file("sentinel/playbook.bicep")["resources"]["sentinelConnection"])
    assert api_connection["properties"]["parameterValueType"] == "Alternative"
    assert "azuresentinel" in set(strings(api_connection["properties"]["api"]))
