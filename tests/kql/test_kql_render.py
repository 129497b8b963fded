"""``render_for_log_analytics``: values become the rule's own defaults, and only those change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb_kql
import pytest

import shared
from shared.errors import DataError, RuleError
from shared.kql.declare import parse_declare
from shared.kql.render import render_for_log_analytics

RULE = Path(shared.__file__).parent / "rules" / "compromised-signing-key" / "rule.kql"


def test_real_rule_renders_and_runs_with_values_as_defaults() -> None:
    text = RULE.read_text(encoding="utf-8")
    values = {
        "window_start": datetime(2026, 11, 19, tzinfo=UTC),
        "window_end": datetime(2026, 11, 20, tzinfo=UTC),
        "compromised_kids": ["kid-1", 'kid"2'],
    }
    rendered = render_for_log_analytics(text, values)
    block = parse_declare(rendered)
    assert block is not None
    assert block.get("window_start").default == "datetime(2026-11-19T00:00:00.0000000Z)"  # type: ignore[union-attr]
    assert block.get("compromised_kids").default == 'dynamic([@"kid-1", @"kid""2"])'  # type: ignore[union-attr]
    original = parse_declare(text)
    assert original is not None
    assert block.get("default_window").default == original.get("default_window").default  # type: ignore[union-attr]
    assert block.prefix == original.prefix and block.body == original.body

    con = duckdb_kql.connect()
    con.execute(
        "CREATE TABLE TokenValidation_CL AS SELECT TIMESTAMP '2026-11-19 05:00:00' AS TimeGenerated, "
        "'Accepted' AS Outcome, 'kid\"2' AS KeyId, '' AS X5t, 't1' AS TokenId, 'o' AS ObjectId, 'u' AS Upn, "
        "'a' AS AppId, 'ip' AS ClientIp, 'iss' AS Issuer, 'tid' AS TokenTenantId, 'aud' AS Audience, "
        "'ua' AS UserAgent"
    )
    rows = duckdb_kql.kql(con, rendered).fetchall()
    assert len(rows) == 1
    assert rows[0][7] == 'kid"2'  # KeyId column of the rule's projection


def test_text_without_declare_is_returned_unchanged_when_no_values() -> None:
    assert render_for_log_analytics("T | take 1", {}) == "T | take 1"


def test_values_for_a_query_without_declare_are_refused() -> None:
    with pytest.raises(DataError, match="declares no parameters"):
        render_for_log_analytics("T | take 1", {"x": 1})


def test_unknown_parameter_names_are_refused() -> None:
    with pytest.raises(DataError, match=r"unknown parameter\(s\) \['nope'\]"):
        render_for_log_analytics("declare query_parameters(a:string = 'x'); T", {"nope": "v"})


def test_type_mismatch_names_the_parameter() -> None:
    with pytest.raises(DataError, match="parameter window: declared timespan, got str"):
        render_for_log_analytics("declare query_parameters(window:timespan = 1h); T", {"window": "2h"})


def test_parameter_without_default_or_value_is_refused() -> None:
    with pytest.raises(DataError, match="parameter a has no value and no default"):
        render_for_log_analytics("declare query_parameters(a:string); T", {})


def test_malformed_declare_is_a_rule_error() -> None:
    with pytest.raises(RuleError):
        render_for_log_analytics("declare query_parameters(a:string = ; T", {"a": "x"})


def test_names_and_types_come_from_the_rule_not_the_caller() -> None:
    rendered = render_for_log_analytics(
        "declare query_parameters(w:time = 1h, s:string = '');\nT", {"w": timedelta(hours=2), "s": "v"}
    )
    assert rendered == 'declare query_parameters(\n    w:time = time(0.02:00:00.0000000),\n    s:string = @"v"\n);\nT'
