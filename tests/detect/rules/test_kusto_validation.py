"""Every form of every rule that a target receives must analyse cleanly with the official Kusto language service
and emit the finding contract: the log-analytics form (with the values a scan binds), the Sentinel form and the
placeholder deployed while a rule's tables are not connected.

Runs ``tools/kusto/check.js`` under Node (``make node-deps``); one Node process per fixture.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.detect.hunt import HuntContext, rule_parameters
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import TimeRange
from shared.detect.rule_forms import TARGETS, placeholder_query, render_rule
from shared.detect.ruleset import FINDING_COLUMNS, load_rules
from tools.kusto_check import REPO_ROOT, KustoCheckResult, check_queries, load_schemas

SCHEMAS = REPO_ROOT / "shared" / "schemas"
RULE_FILES = sorted(REPO_ROOT.glob("shared/rules/*/rule.kql"))
RULES = load_rules()
FORMS = [f"{rule.id}/{form}" for rule in RULES for form in (*TARGETS, "placeholder")]
WINDOW = TimeRange(start=datetime(2026, 11, 20, tzinfo=UTC), end=datetime(2026, 11, 20, 1, tzinfo=UTC))


def rendered_forms() -> dict[str, str]:
    """Each form as its target receives it; the log-analytics one with the values a scan binds."""
    available, _ = HuntContext(keys=KeyIntelligence(published=(), compromised=load_compromised_keys())).values()
    available.update({"published_keys": ["https://sts.windows.net/{tenantid}/|kid-a", 'appid=x|kid"b'],
                      "personal_account_apps": ["app-1"],
                      "known_org_apps": ["app-2"]})
    forms: dict[str, str] = {}
    for rule in RULES:
        forms[f"{rule.id}/log-analytics"] = render_rule(rule, "log-analytics",
                                                        rule_parameters(rule, WINDOW, available))
        forms[f"{rule.id}/sentinel"] = render_rule(rule, "sentinel")
        forms[f"{rule.id}/placeholder"] = placeholder_query(rule)
    return forms

FINDING_CONTRACT = FINDING_COLUMNS

GUARD_TABLES = {"T": [("C", "string"), ("N", "long")]}
GUARD_QUERIES = {
    "unknown-column": 'T | where Missing == "a"',
    "syntax-error": "T | where",
    "unknown-table": "NoSuchTable | take 1",
    "query-parameters": 'declare query_parameters(x:string = "a");\nT | where C == x',
}


def _rule_id(path: Path) -> str:
    return path.parent.name


def _describe(result: KustoCheckResult) -> str:
    return "\n".join(str(d) for d in result.diagnostics)


@pytest.fixture(scope="module")
def rule_results() -> dict[str, KustoCheckResult]:
    return check_queries(load_schemas(SCHEMAS), rendered_forms())


@pytest.fixture(scope="module")
def guard_results() -> dict[str, KustoCheckResult]:
    return check_queries(GUARD_TABLES, GUARD_QUERIES)


def test_rules_exist() -> None:
    assert RULE_FILES, "no shared/rules/*/rule.kql found"


@pytest.mark.parametrize("form", FORMS)
def test_rendered_form_has_no_diagnostics(form: str, rule_results: dict[str, KustoCheckResult]) -> None:
    result = rule_results[form]
    assert result.diagnostics == (), f"{form}:\n{_describe(result)}"


@pytest.mark.parametrize("form", FORMS)
def test_rendered_form_emits_finding_contract(form: str, rule_results: dict[str, KustoCheckResult]) -> None:
    assert rule_results[form].columns == FINDING_CONTRACT


@pytest.mark.parametrize("form", FORMS)
def test_no_target_receives_a_declare_statement(form: str) -> None:
    # Kusto refuses a default on a dynamic parameter, and the query API cannot pass values: every parameter is a let.
    assert "declare query_parameters" not in rendered_forms()[form]


def test_every_rule_is_rendered_in_every_form() -> None:
    assert len(FORMS) == 3 * len(RULE_FILES) and len(RULE_FILES) >= 7


def test_standard_log_analytics_columns_are_added() -> None:
    for table, columns in load_schemas(SCHEMAS).items():
        names = [name for name, _ in columns]
        for required in ("TenantId", "Type", "_ResourceId"):
            assert names.count(required) == 1, f"{table}: {required}"


def test_guard_unknown_column_is_reported(guard_results: dict[str, KustoCheckResult]) -> None:
    diagnostics = guard_results["unknown-column"].diagnostics
    assert any(d.severity == "Error" and "Missing" in d.message for d in diagnostics), diagnostics
    first = diagnostics[0]
    assert (first.line, first.column) == (1, 11)
    assert GUARD_QUERIES["unknown-column"][first.start : first.start + first.length] == "Missing"


def test_guard_syntax_error_is_reported(guard_results: dict[str, KustoCheckResult]) -> None:
    assert any(d.severity == "Error" for d in guard_results["syntax-error"].diagnostics)


def test_guard_unknown_table_is_reported(guard_results: dict[str, KustoCheckResult]) -> None:
    diagnostics = guard_results["unknown-table"].diagnostics
    assert any(d.severity == "Error" and "NoSuchTable" in d.message for d in diagnostics), diagnostics


def test_guard_query_parameters_are_clean(guard_results: dict[str, KustoCheckResult]) -> None:
    result = guard_results["query-parameters"]
    assert result.diagnostics == (), _describe(result)
    assert result.columns == (("C", "string"), ("N", "long"))
