"""``tokenwarden demo`` (``make demo``): generate a tenant with planted attacks, hunt it, and check the result.

The demo is its own acceptance test: it compares what the rules found with
``planted.json`` and says which planted attack was missed or which look-alike
fired, so a regression shows up on the first run.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from shared.findings import Finding

__all__ = ["check_planted", "run_demo"]


def check_planted(findings: tuple[Finding, ...], planted_file: Path) -> tuple[list[str], list[str], int, int]:
    """(missed attacks, noisy look-alikes, attacks total, look-alikes total) against ``planted.json``."""
    cases = json.loads(planted_file.read_text(encoding="utf-8"))["cases"]
    fired = {(f.rule_id, f.token_id) for f in findings} | {(f.rule_id, f.user_upn) for f in findings}
    missed, noisy = [], []
    attacks = [c for c in cases if c["kind"] == "attack"]
    lookalikes = [c for c in cases if c["kind"] == "lookalike"]
    for case in attacks:
        if (case["rule_id"], case["token_id"] or case["user_upn"]) not in fired:
            missed.append(f"{case['rule_id']}: {case['description']}")
    for case in lookalikes:
        if (case["rule_id"], case["token_id"] or case["user_upn"]) in fired:
            noisy.append(f"{case['rule_id']}: {case['description']}")
    return missed, noisy, len(attacks), len(lookalikes)


def run_demo(out: Path, *, users: int, stdout: TextIO, stderr: TextIO) -> int:
    from shared.apps import read_apps_file
    from shared.demo_data.generate import generate_demo_data
    from shared.hunt import HuntContext, run_hunt
    from shared.keys.compromised import load_compromised_keys
    from shared.keys.intel import KeyIntelligence
    from shared.keys.jwks import read_jwks_file
    from shared.logsources.base import TimeRange
    from shared.logsources.local import LocalWorkspace
    from shared.render import render_report
    from shared.ruleset import load_rules

    logs = out / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    print(f"Generating a {users}-user tenant with planted attacks in {logs} ...", file=stderr)
    summary = generate_demo_data(logs, users=users, days=3)
    published = tuple(key for path in sorted((logs / "jwks").glob("*.json")) for key in read_jwks_file(path))
    context = HuntContext(
        keys=KeyIntelligence(published=published, compromised=load_compromised_keys()),
        apps=read_apps_file(logs / "apps.json"),
    )
    window = TimeRange(start=summary.end - timedelta(hours=24), end=summary.end)
    workspace = LocalWorkspace.from_exports(logs)
    try:
        report = run_hunt(workspace, load_rules(), window=window, context=context)
    finally:
        workspace.close()
    render_report(report, "table", stdout)
    (out / "findings.json").write_text(json.dumps([f.to_json() for f in report.findings], indent=2),
                                       encoding="utf-8")
    missed, noisy, attacks, lookalikes = check_planted(report.findings, logs / "planted.json")
    print(f"\nPlanted attacks detected: {attacks - len(missed)}/{attacks}; "
          f"look-alikes left alone: {lookalikes - len(noisy)}/{lookalikes}", file=stdout)
    for line in missed:
        print(f"  MISSED {line}", file=stdout)
    for line in noisy:
        print(f"  FALSE POSITIVE {line}", file=stdout)
    print(f"Findings written to {out / 'findings.json'}", file=stdout)
    return 0 if not missed and not noisy and report.complete else 1
