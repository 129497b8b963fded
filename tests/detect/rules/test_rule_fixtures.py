"""Each rule against each of its fixtures, on the embedded DuckDB workspace (id: rule/kind/fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.core.timeparse import parse_instant
from shared.detect.hunt import HuntContext, run_hunt
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import RuleCollection, load_rules

RULES = load_rules()
CASES = [
    pytest.param(rule, path, id=f"{rule.id}/{kind}/{path.stem}")
    for rule in RULES
    for kind in ("positive", "negative")
    for path in rule.fixtures(kind)
]


def _write_tables(folder: Path, tables: dict[str, list[dict[str, object]]]) -> None:
    for table, rows in tables.items():
        with (folder / f"{table}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


@pytest.mark.parametrize(("rule", "fixture"), CASES)
def test_rule_fixture(rule, fixture: Path, tmp_path: Path) -> None:
    case = json.loads(fixture.read_text(encoding="utf-8"))
    _write_tables(tmp_path, case["tables"])
    window = TimeRange(start=parse_instant(case["window"]["start"]), end=parse_instant(case["window"]["end"]))
    context = HuntContext(
        keys=KeyIntelligence(published=(), compromised=load_compromised_keys()),
        overrides=case.get("parameters", {}),
    )
    workspace = LocalWorkspace.from_exports(tmp_path)
    try:
        report = run_hunt(workspace, RuleCollection((rule,)), window=window, context=context)
    finally:
        workspace.close()
    assert report.complete, report.runs
    expect = case["expect"]
    assert len(report.findings) == expect["findings"], [f.to_json() for f in report.findings]
    for field, value in expect.get("match", {}).items():
        assert report.findings[0].to_json()[field] == value, field


def test_every_fixture_kind_is_represented() -> None:
    for rule in RULES:
        assert rule.fixtures("positive"), f"{rule.id} has no positive fixture"
        assert rule.fixtures("negative"), f"{rule.id} has no negative fixture"
        for path in rule.fixtures("positive"):
            assert json.loads(path.read_text())["expect"]["findings"] > 0, path
        for path in rule.fixtures("negative"):
            assert json.loads(path.read_text())["expect"]["findings"] == 0, path
