"""``bind_parameters``: every declared parameter becomes a ``let``, values where given, and nothing else changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb_kql
import pytest

import shared
from shared.core.errors import DataError, RuleError
from shared.detect.kql.declare import parse_declare
from shared.detect.kql.render import bind_parameters

RULE = Path(shared.__file__).parent / "rules" / "compromised-signing-key" / "rule.kql"


def test_real_rule_renders_and_runs_with_values_bound_as_lets() -> None:
    text = RULE.read_text(encoding="utf-8")
    values = {
        "window_start": datetime(2026, 11, 19, tzinfo=UTC),
        "window_end": datetime(2026, 11, 20, tzinfo=UTC),
        "compromised_kids": ["kid-1", 'kid"2'],
    }
    rendered = bind_parameters(text, values)
    assert parse_declare(rendered) is None
    assert "let window_start = datetime(2026-11-19T00:00:00.0000000Z);" in rendered
    assert 'let compromised_kids = dynamic([@"kid-1", @"kid""2"]);' in rendered
    original = parse_declare(text)
    assert original is not None
    assert f"let default_window = {original.get('default_window').default};" in rendered  # type: ignore[union-attr]
    assert rendered.startswith(original.prefix) and rendered.endswith(original.body)

    con = duckdb_kql.connect()
    con.execute(
        "CREATE TABLE TokenValidation_CL AS SELECT TIMESTAMP '2026-11-19 05:00:00' AS TimeGenerated, "
        "TIMESTAMP '2026-11-19 05:01:00' AS _TW_IngestionTime, "
        "'Accepted' AS Outcome, 'kid\"2' AS KeyId, '' AS X5t, 't1' AS TokenId, 'o' AS ObjectId, 'u' AS Upn, "
        "'a' AS AppId, 'ip' AS ClientIp, 'iss' AS Issuer, 'tid' AS TokenTenantId, 'aud' AS Audience, "
        "'ua' AS UserAgent"
    )
    rows = duckdb_kql.kql(con, rendered.replace("ingestion_time()", "_TW_IngestionTime")).fetchall()
    assert len(rows) == 1
    assert rows[0][8] == 'kid"2'  # KeyId column of the rule's projection


def test_text_without_declare_is_returned_unchanged_when_no_values() -> None:
    assert bind_parameters("T | take 1", {}) == "T | take 1"


def test_values_for_a_query_without_declare_are_refused() -> None:
    with pytest.raises(DataError, match="declares no parameters"):
        bind_parameters("T | take 1", {"x": 1})


def test_unknown_parameter_names_are_refused() -> None:
    with pytest.raises(DataError, match=r"unknown parameter\(s\) \['nope'\]"):
        bind_parameters("declare query_parameters(a:string = 'x'); T", {"nope": "v"})


def test_type_mismatch_names_the_parameter() -> None:
    with pytest.raises(DataError, match="parameter window: declared timespan, got str"):
        bind_parameters("declare query_parameters(window:timespan = 1h); T", {"window": "2h"})


def test_parameter_without_default_or_value_is_refused() -> None:
    with pytest.raises(DataError, match="parameter a has no value and no default"):
        bind_parameters("declare query_parameters(a:string); T", {})


def test_malformed_declare_is_a_rule_error() -> None:
    with pytest.raises(RuleError):
        bind_parameters("declare query_parameters(a:string = ; T", {"a": "x"})


def test_names_and_types_come_from_the_rule_not_the_caller() -> None:
    rendered = bind_parameters(
        "declare query_parameters(w:time = 1h, s:string = '');\nT", {"w": timedelta(hours=2), "s": "v"}
    )
    assert rendered == 'let w = time(0.02:00:00.0000000);\nlet s = @"v";\nT'


def test_defaults_keep_their_declared_type() -> None:
    text = "declare query_parameters(n:int = 5, b:bool = true, l:long = long(7), s:string = 'a');\nT"
    rendered = bind_parameters(text, {})
    assert rendered == "let n = int(5);\nlet b = bool(true);\nlet l = long(7);\nlet s = 'a';\nT"


def test_a_value_that_would_escape_its_quotes_is_refused() -> None:
    with pytest.raises(DataError, match="parameter s"):
        bind_parameters("declare query_parameters(s:string = '');\nT", {"s": 'x";\nT | take 1'})
