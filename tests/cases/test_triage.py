"""Scan into the ledger (Azurite), then enrich and triage the changed cases with msgraph-sdk against the simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.cases.enrich.graph import GraphDirectory, build_graph_client
from shared.cases.policy.loader import load_policy
from shared.cases.triage import triage_cases
from shared.core.settings import load_settings
from shared.detect.ruleset import load_rules
from shared.devkit.simulator import SimulatorServer
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.scan import ScanReport, scan
from shared.jobs.wiring import build_hunt_context, build_key_intelligence, build_log_source
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.graph import StaticCredential

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph")

NOW = DEMO_END + timedelta(minutes=5)


@pytest.fixture
def scanned(demo_logs: DemoLogs, storage_environment: dict[str, str], ledger: Ledger) -> tuple[ScanReport, object]:
    settings = load_settings(demo_logs.environment(**storage_environment, SCAN_LOOKBACK="24h",
                                                   SCAN_MAX_CHUNK="25h"))
    source = build_log_source(settings)
    report = scan(source, load_rules(), context=build_hunt_context(settings), ledger=ledger,
                  policy=ScanPolicy.from_settings(settings), now=NOW)
    return report, (settings, source)


def _triage(ledger: Ledger, report: ScanReport, settings_source: object, simulator: SimulatorServer):  # type: ignore[no-untyped-def]
    settings, source = settings_source  # type: ignore[misc]
    directory = GraphDirectory(build_graph_client(StaticCredential(), base_url=simulator.graph_url))
    return triage_cases(ledger, report.cases_needing_work, directory=directory, source=source,
                        keys=build_key_intelligence(settings), policy=load_policy(), now=NOW)


def test_changed_cases_are_enriched_and_decided(scanned, ledger: Ledger, simulator: SimulatorServer,  # type: ignore[no-untyped-def]
                                                demo_logs: DemoLogs) -> None:
    report, settings_source = scanned
    assert report.cases_needing_work
    outcomes = _triage(ledger, report, settings_source, simulator)
    assert {o.case.case_id for o in outcomes} == set(report.cases_needing_work)
    assert all(o.case.state == "enriched" and o.case.decision and o.case.enrichment for o in outcomes)
    by_rule = {rule: o for o in outcomes for rule in o.case.rule_ids}
    storm = by_rule["compromised-signing-key"]
    assert (storm.decision.severity, storm.decision.playbook) == ("High", "contain-identity")
    keys = storm.case.enrichment["keys"]  # type: ignore[index]
    assert any(k["compromised"] == "Storm-0558 Microsoft-account signing key" for k in keys)
    ips = storm.case.enrichment["ips"]  # type: ignore[index]
    assert any(ip["ti_matches"] == 1 for ip in ips)
    mail = by_rule["mail-access-by-unexpected-app"]
    users = mail.case.enrichment["users"]  # type: ignore[index]
    assert users and users[0]["status"] == "ok"  # a UPN-only principal resolved through Graph
    stored = CaseStore(ledger.cases).get(storm.case.case_id)
    assert stored is not None and stored.decision == storm.case.decision
    assert [t.to_state for t in stored.transitions][-1] == "enriched"


def test_re_triage_updates_facts_without_a_second_transition(scanned, ledger: Ledger,  # type: ignore[no-untyped-def]
                                                              simulator: SimulatorServer) -> None:
    report, settings_source = scanned
    first = _triage(ledger, report, settings_source, simulator)
    again = _triage(ledger, report, settings_source, simulator)
    for before, after in zip(first, again, strict=True):
        assert after.case.state == "enriched"
        assert len(after.case.transitions) == len(before.case.transitions)


def test_a_failing_directory_degrades_but_still_decides(scanned, ledger: Ledger,  # type: ignore[no-untyped-def]
                                                         simulator: SimulatorServer) -> None:
    report, settings_source = scanned
    simulator.faults.fail("/users/*", status=500, times=None)
    outcomes = _triage(ledger, report, settings_source, simulator)
    user_cases = [o for o in outcomes if o.case.principal.kind in ("user", "upn")]
    assert user_cases and all(o.degraded for o in user_cases)
    assert all(o.case.decision for o in outcomes)
    storm = next(o for o in outcomes if "compromised-signing-key" in o.case.rule_ids)
    assert storm.decision.matched == "compromised-key-in-use"  # does not depend on the missing facts
