"""``tokenwarden demo`` (``make demo``): generate a tenant with planted attacks, hunt it, and check the result.

The demo is its own acceptance test: it compares what the rules found with
``planted.json`` and says which planted attack was missed or which look-alike
fired, so a regression shows up on the first run.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from shared.detect.findings import Finding

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


def _cases_step(logs: Path, end: datetime, environ: Mapping[str, str], stdout: TextIO, stderr: TextIO) -> bool:
    """Scan into the ledger, then enrich and triage the cases against the local Graph simulator."""
    import threading

    from shared.cases.enrich.graph import GraphDirectory, build_graph_client
    from shared.core.credentials import LocalCredential
    from shared.core.settings import load_settings
    from shared.devkit.simulator import build_simulator, load_tenant_state
    from shared.jobs.scan import scan_and_triage
    from shared.ledger.connection import open_ledger

    jwks = logs / "jwks"
    settings = load_settings({**environ, "LOCAL_LOGS_DIR": str(logs), "APP_CATALOG_FILE": str(logs / "apps.json"),
                              "KEY_SOURCES": f"{jwks / 'organizations.json'},{jwks / 'consumers.json'}",
                              "SCAN_LOOKBACK": "24h", "SCAN_MAX_CHUNK": "25h"})
    now = end + settings.ingestion_delay + timedelta(minutes=1)
    simulator = build_simulator(load_tenant_state(logs))
    thread = threading.Thread(target=simulator.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    ledger = open_ledger(settings)
    directory = GraphDirectory(build_graph_client(LocalCredential(), base_url=simulator.graph_url))
    try:
        print("Scanning into the ledger (Azurite) and triaging cases against the Graph simulator ...", file=stderr)
        report, outcomes = scan_and_triage(settings, ledger=ledger, directory=directory, now=now)
    finally:
        ledger.close()
        simulator.shutdown()
        simulator.server_close()
    print(f"\nLedger: {report.findings_new} findings stored, {len(report.cases_created)} cases opened; "
          f"Graph requests: {directory.requests_sent}", file=stdout)
    print(f"{'CASE':<34} {'PRINCIPAL':<36} {'SEVERITY':<8} {'PLAYBOOK':<20} WHY", file=stdout)
    for outcome in sorted(outcomes, key=lambda o: (o.case.severity != "High", o.case.case_id)):
        case = outcome.case
        principal = (case.user_upns[0] if case.user_upns else case.principal.value)[:36]
        note = f" (degraded: {len(outcome.degraded)})" if outcome.degraded else ""
        print(f"{case.case_id:<34} {principal:<36} {case.severity:<8} {outcome.decision.playbook:<20} "
              f"{outcome.decision.matched}{note}", file=stdout)
    (logs.parent / "cases.json").write_text(json.dumps(
        [{"case_id": o.case.case_id, "principal": o.case.principal.key, "state": o.case.state,
          "severity": o.case.severity, "rules": list(o.case.rule_ids), "decision": o.case.decision,
          "enrichment": o.case.enrichment} for o in outcomes], indent=2, default=str), encoding="utf-8")
    return bool(outcomes) and all(o.case.state == "enriched" for o in outcomes)


def run_demo(out: Path, *, users: int, stdout: TextIO, stderr: TextIO,
             environ: Mapping[str, str] | None = None) -> int:
    from shared.cli.render import render_report
    from shared.detect.apps import read_apps_file
    from shared.detect.hunt import HuntContext, run_hunt
    from shared.detect.keys.compromised import load_compromised_keys
    from shared.detect.keys.intel import KeyIntelligence
    from shared.detect.keys.jwks import read_jwks_file
    from shared.detect.logsources.base import TimeRange
    from shared.detect.logsources.local import LocalWorkspace
    from shared.detect.ruleset import load_rules
    from shared.devkit.demo_data.generate import generate_demo_data

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
    cases_ok = True
    if environ is not None and environ.get("AzureWebJobsStorage"):
        cases_ok = _cases_step(logs, summary.end, environ, stdout, stderr)
        print(f"Cases written to {out / 'cases.json'}", file=stdout)
    else:
        print("(ledger, triage and response: `make demo` runs them through the function objects on Azurite)",
              file=stdout)
    return 0 if not missed and not noisy and report.complete and cases_ok else 1
