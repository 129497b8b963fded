"""Run one rule on one of its fixture files in the embedded DuckDB workspace: the fixture tests and the tests
that read a finding's evidence share it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.core.timeparse import parse_instant
from shared.detect.hunt import HuntContext, HuntReport, run_hunt
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import Rule, RuleCollection

__all__ = ["load_fixture", "only_evidence", "rule_fixture", "run_fixture"]


def load_fixture(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def rule_fixture(rule: Rule, kind: str, name: str) -> dict[str, Any]:
    """The rule's own fixture ``fixtures/<kind>/<name>.json``."""
    return load_fixture(rule.folder / "fixtures" / kind / f"{name}.json")


def only_evidence(rule: Rule, case: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Run *rule* on *case*, which must give exactly one finding, and return that finding's evidence."""
    report = run_fixture(rule, case, folder)
    assert report.complete, report.runs
    assert len(report.findings) == 1, [f.to_json() for f in report.findings]
    return dict(report.findings[0].evidence)


def run_fixture(rule: Rule, case: dict[str, Any], folder: Path) -> HuntReport:
    """Write the case's tables as JSON-lines exports under *folder* (made if missing), load them and run *rule*
    on the case's window."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, rows in case["tables"].items():
        with (folder / f"{table}.jsonl").open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
    window = TimeRange(start=parse_instant(case["window"]["start"]), end=parse_instant(case["window"]["end"]))
    context = HuntContext(
        keys=KeyIntelligence(published=(), compromised=load_compromised_keys()),
        overrides=case.get("parameters", {}),
    )
    workspace = LocalWorkspace.from_exports(folder)
    try:
        return run_hunt(workspace, RuleCollection((rule,)), window=window, context=context)
    finally:
        workspace.close()
