"""Every KQL rule must analyse cleanly with the official Kusto language service and emit the finding contract.

Runs ``tools/kusto/check.js`` under Node (``make node-deps``); one Node process per fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.ruleset import FINDING_COLUMNS
from tools.kusto_check import REPO_ROOT, KustoCheckResult, check_queries, load_schemas

SCHEMAS = REPO_ROOT / "shared" / "schemas"
RULE_FILES = sorted(REPO_ROOT.glob("shared/rules/*/rule.kql"))

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
    tables = load_schemas(SCHEMAS)
    queries = {_rule_id(path): path.read_text(encoding="utf-8") for path in RULE_FILES}
    return check_queries(tables, queries)


@pytest.fixture(scope="module")
def guard_results() -> dict[str, KustoCheckResult]:
    return check_queries(GUARD_TABLES, GUARD_QUERIES)


def test_rules_exist() -> None:
    assert RULE_FILES, "no shared/rules/*/rule.kql found"


@pytest.mark.parametrize("rule", RULE_FILES, ids=_rule_id)
def test_rule_has_no_diagnostics(rule: Path, rule_results: dict[str, KustoCheckResult]) -> None:
    result = rule_results[_rule_id(rule)]
    assert result.diagnostics == (), f"{rule.relative_to(REPO_ROOT)}:\n{_describe(result)}"


@pytest.mark.parametrize("rule", RULE_FILES, ids=_rule_id)
def test_rule_emits_finding_contract(rule: Path, rule_results: dict[str, KustoCheckResult]) -> None:
    assert rule_results[_rule_id(rule)].columns == FINDING_CONTRACT


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
