"""Sentinel content: the analytics rules are the rule folders' Sentinel forms, and the automation chain is complete.

The Bicep deploys infra/sentinel/analytic-rules.json, generated from shared/rules/* by `make sentinel-content`;
these tests fail when it is stale, and check what it holds against rule.toml and Sentinel's own limits.
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import pytest
from infra_bicep import INFRA, ROOT, body, infra_file, resolve, strings

from shared.detect.rule_forms import placeholder_query, render_rule
from shared.detect.ruleset import iso_duration, load_rules
from tools.sentinel_content import CONTENT_FILE, sentinel_content

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
    """The rules the Bicep deploys: the generated file it loads."""
    loaded = infra_file("sentinel/analytic-rules.bicep")["variables"]["rules"]["value"]["operator"]["operands"]
    assert loaded["operand_1"]["function"]["type"] == "load_json_content"
    assert (ANALYTIC_RULES.parent / loaded["operand_1"]["function"]["parameters"]["file_path"]) == CONTENT_FILE
    assert loaded["operand_2"] == "rules"
    rules: list[dict[str, Any]] = json.loads(CONTENT_FILE.read_text(encoding="utf-8"))["rules"]
    by_id = {rule["id"]: rule for rule in rules}
    assert len(by_id) == len(rules), "duplicate rule ids in analytic-rules.json"
    return by_id


def test_the_generated_content_is_current() -> None:
    assert CONTENT_FILE.read_text(encoding="utf-8") == sentinel_content(load_rules()), (
        "infra/sentinel/analytic-rules.json is stale: run `make sentinel-content`")


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
    assert iso_duration(bicep["queryPeriod"]) <= iso_duration("P14D")  # Sentinel's longest look-back
    assert bicep["tactics"] == toml["mitre"]["tactics"]
    assert set(bicep["tactics"]) <= SENTINEL_TACTICS
    # The stable API rejects sub-techniques ("The expected format is 'T####'"): each is reduced to its
    # technique, once.
    parents = list(dict.fromkeys(t.split(".")[0] for t in toml["mitre"]["techniques"]))
    assert bicep["techniques"] == parents
    assert all(re.fullmatch(r"T\d{4}", t) for t in bicep["techniques"])


@pytest.mark.parametrize("rule_id", sorted(rule_folders()))
def test_rule_query_is_the_rules_sentinel_form(rule_id: str) -> None:
    rule = load_rules().get(rule_id)
    query = bicep_rules()[rule_id]["query"]
    assert query == render_rule(rule, "sentinel")
    assert len(query) < 10_000  # Sentinel's limit on a scheduled rule's query
    assert "declare query_parameters" not in query  # Kusto refuses the rule's dynamic defaults
    assert "ingestion_time()" in query  # windowed on arrival
    assert bicep_rules()[rule_id]["placeholderQuery"] == placeholder_query(rule)


def test_runtime_list_rules_are_deployed_disabled_with_the_reason() -> None:
    for rule_id, rule in bicep_rules().items():
        assert rule["enabled"] is (rule_id not in DISABLED_IN_SENTINEL), rule_id
        if rule_id in DISABLED_IN_SENTINEL:
            assert "Deployed disabled: " in rule["description"] and "runtime list" in rule["description"], rule_id


def test_the_mail_rule_says_its_sentinel_baseline_is_shorter() -> None:
    rule = bicep_rules()["mail-access-by-unexpected-app"]
    assert "let baseline_period = time(12.00:00:00.0000000);" in rule["query"]
    assert "12-day baseline" in rule["description"]
    assert rule["queryPeriod"] == "P14D"


def test_rules_whose_tables_are_missing_deploy_disabled_with_a_placeholder() -> None:
    # Sentinel test-runs a rule's query on create, so a query naming a missing table would fail the deployment.
    tree = infra_file("sentinel/analytic-rules.bicep")
    assert "connectedTables" in set(strings(tree["variables"]["availableTables"]["value"]))
    assert "TokenValidation_CL" in set(strings(tree["variables"]["availableTables"]["value"]))
    selection = set(strings(tree["variables"]["deployedRules"]["value"]))
    assert {"excludedRuleIds"} <= selection
    per_rule = tree["variables"]["connected"]["value"]
    assert per_rule["loop_type"]["detail"]["array_name"] == "deployedRules"
    assert {"availableTables", "tables"} <= set(strings(per_rule))
    properties = scheduled_rule()["properties"]
    connected_i = {"operator": {"type": "index_accessor", "operands": {"operand_1": "connected", "operand_2": "i"}}}
    assert properties["query"]["operator"]["type"] == "conditional"
    assert properties["query"]["operator"]["operands"]["condition"] == connected_i
    assert properties["query"]["operator"]["operands"]["false_value"]["operator"]["operands"]["operand_2"] == (
        "placeholderQuery")
    assert properties["enabled"]["operator"]["type"] == "and"
    assert properties["enabled"]["operator"]["operands"]["operand_2"] == connected_i
    assert "Deployed disabled" in json.dumps(properties["description"])
    main = infra_file("main.bicep")
    passed = body(main["modules"]["analyticRules"])["params"]["connectedTables"]
    assert set(strings(passed)) >= {"createWorkspace", "connectedTableNames"}
    every_source = {t for toml in rule_folders().values() for t in toml["tables"]} - {"TokenValidation_CL"}
    assert set(main["parameters"]["connectedTables"]["default"].split(",")) == every_source
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["connectedTables"]["value"] == "${CONNECTED_TABLES=" + main["parameters"]["connectedTables"][
        "default"] + "}"


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
        "operator": {"type": "property_accessor", "operands": {"operand_1": "rule", "operand_2": "techniques"}}
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
        # AppId is Defender for Cloud Apps' integer service id; an Entra app id is the entity's Name.
        "CloudApplication": {"Name": "AppId"},
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
