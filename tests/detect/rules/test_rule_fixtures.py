"""Each rule against each of its fixtures, on the embedded DuckDB workspace (id: rule/kind/fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.detect.ruleset import load_rules
from tests.support.rule_fixtures import load_fixture, run_fixture

RULES = load_rules()
CASES = [
    pytest.param(rule, path, id=f"{rule.id}/{kind}/{path.stem}")
    for rule in RULES
    for kind in ("positive", "negative")
    for path in rule.fixtures(kind)
]


@pytest.mark.parametrize(("rule", "fixture"), CASES)
def test_rule_fixture(rule, fixture: Path, tmp_path: Path) -> None:
    case = load_fixture(fixture)
    report = run_fixture(rule, case, tmp_path)
    assert report.complete, report.runs
    expect = case["expect"]
    assert len(report.findings) == expect["findings"], [f.to_json() for f in report.findings]
    for field, value in expect.get("match", {}).items():
        assert report.findings[0].to_json()[field] == value, field
    for key, value in expect.get("evidence", {}).items():
        assert report.findings[0].evidence.get(key) == value, key


def test_every_fixture_kind_is_represented() -> None:
    for rule in RULES:
        assert rule.fixtures("positive"), f"{rule.id} has no positive fixture"
        assert rule.fixtures("negative"), f"{rule.id} has no negative fixture"
        for path in rule.fixtures("positive"):
            assert json.loads(path.read_text())["expect"]["findings"] > 0, path
        for path in rule.fixtures("negative"):
            assert json.loads(path.read_text())["expect"]["findings"] == 0, path
