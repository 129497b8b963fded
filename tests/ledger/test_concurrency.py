"""Two scans at once, as separate OS processes against one Azurite: one case per principal, no lost finding.

Each test first records the same work sequentially in tables of its own (the reference), then runs
it in two ``spawn``-ed processes that start writing together (a barrier) into other tables, and
compares: the same cases, the same findings with the same counts and times, every reference kept.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from shared.cases.model import Case
from shared.core.settings import load_settings
from shared.detect.findings import Finding
from shared.detect.ruleset import load_rules
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.scan import scan
from shared.jobs.wiring import build_hunt_context, build_log_source
from shared.ledger.case_store import CaseStore
from shared.ledger.checkpoint_store import CheckpointStore
from shared.ledger.connection import Ledger
from shared.ledger.finding_store import FindingStore
from shared.ledger.recorder import record_findings
from tests.support import scan_workers
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.findings import T0, make_finding
from tests.support.ledgers import LedgerFactory, unique_table_names

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

JOIN_TIMEOUT = 600.0


def _windows_of_findings() -> list[list[Finding]]:
    """Twelve overlapping 15-minute windows over six users, app-only calls, a token-only forgery and a
    UPN-only mail finding: the same tokens recur from window to window, as overlapping scans see them."""
    batches: list[list[Finding]] = []
    for window in range(12):
        start = T0 + timedelta(minutes=10 * window)  # 15-minute windows every 10 minutes: 5 minutes overlap
        batch = []
        for user in range(6):
            oid = f"00000000-0000-4000-8000-00000000000{user}"
            for token in range(3):
                if (window + token) % 3 == 0:
                    continue
                batch.append(make_finding(oid=oid, upn=f"user{user}@contoso.com", token=f"u{user}t{token}",
                                          first=start + timedelta(minutes=token), last=start + timedelta(minutes=14),
                                          count=2 + token, severity=("Low", "Medium", "High")[token]))
        batch.append(make_finding(rule_id="token-without-sign-in", token=f"g{window % 4}",
                                  evidence={"service_principal_id": "SP-1"}, first=start))
        batch.append(make_finding(token="forged-only", first=start, rule_id="unpublished-signing-key"))
        batch.append(make_finding(rule_id="mail-access-by-unexpected-app", upn="USER1@contoso.com", token=None,
                                  first=start, count=window + 1, source_table="OfficeActivity"))
        batches.append(batch)
    return batches


def _snapshot(ledger: Ledger) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """The ledger as comparable values: cases by principal, findings by identity."""
    cases: list[Case] = CaseStore(ledger.cases).cases()
    by_principal = Counter(case.principal for case in cases)
    assert all(n == 1 for n in by_principal.values()), f"more than one case for {by_principal.most_common(3)}"
    case_principal = {case.case_id: case.principal for case in cases}
    findings = {
        (f.rule_id, f.row_key): (f.observation, case_principal[f.case_id], tuple(sorted(f.ip_addresses)))
        for f in FindingStore(ledger.findings).all()
    }
    case_view = {case.principal: (case.case_id, case.severity, case.first_seen, case.last_seen,
                                  frozenset(case.finding_refs), frozenset(case.rule_ids), case.state)
                 for case in cases}
    for case in cases:  # no lost update: every finding of the case is referenced by it, and vice versa
        assert {f"{rule}:{key}" for (rule, key), value in findings.items() if value[1] == case.principal} \
            == set(case.finding_refs)
    return case_view, findings


def _run_two(target: Callable[..., None], args: Sequence[Any]) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results: Any = context.Queue()
    processes = [context.Process(target=target, args=(name, *args, barrier, results), name=f"scan-{name}")
                 for name in ("a", "b")]
    for process in processes:
        process.start()
    try:
        summaries = [results.get(timeout=JOIN_TIMEOUT) for _ in processes]
    finally:
        for process in processes:
            process.join(timeout=JOIN_TIMEOUT)
            if process.is_alive():
                process.kill()
                process.join()
    assert [process.exitcode for process in processes] == [0, 0]
    return summaries


@pytest.mark.slow
def test_two_processes_recording_the_same_windows_converge_on_one_ledger(
        storage_environment: dict[str, str], ledger_factory: LedgerFactory) -> None:
    batches = _windows_of_findings()
    reference = ledger_factory()
    for batch in batches:
        record_findings(reference, batch, now=T0)
    expected_cases, expected_findings = _snapshot(reference)

    names = unique_table_names()
    shared = ledger_factory(names)
    summaries = _run_two(scan_workers.record_batches, (storage_environment, names, batches, T0))

    # Case ids derive from principal and generation only, so they match the reference's.
    assert _snapshot(shared) == (expected_cases, expected_findings)
    assert sum(s["new"] for s in summaries) == len(expected_findings)  # each finding inserted once
    created = Counter(case_id for s in summaries for case_id in s["created"])
    assert len(created) == len(expected_cases) and set(created.values()) == {1}


@pytest.mark.slow
def test_two_whole_scans_at_once_open_each_case_once_and_lose_no_finding(
        demo_logs: DemoLogs, storage_environment: dict[str, str], ledger_factory: LedgerFactory) -> None:
    environment = demo_logs.environment(**storage_environment, SCAN_LOOKBACK="24h", SCAN_MAX_CHUNK="4h")
    settings = load_settings(environment)
    now = DEMO_END + timedelta(minutes=5)
    reference = ledger_factory()
    source = build_log_source(settings)
    try:
        report = scan(source, load_rules(), context=build_hunt_context(settings), ledger=reference,
                      policy=ScanPolicy.from_settings(settings), now=now)
    finally:
        source.close()
    expected_cases, expected_findings = _snapshot(reference)
    assert report.findings_new == len(expected_findings) > 0

    names = unique_table_names()
    shared = ledger_factory(names)
    summaries = _run_two(scan_workers.run_scan_after_barrier, (environment, names, now))

    assert _snapshot(shared) == (expected_cases, expected_findings)
    assert sum(s["new"] for s in summaries) == len(expected_findings)
    created = Counter(case_id for s in summaries for case_id in s["created"])
    assert set(created.values()) == {1} and len(created) == len(expected_cases)
    needing = {case_id for s in summaries for case_id in s["needing_work"]}
    assert needing == set(created)  # between them, the two scans hand every new case on
    assert set(CheckpointStore(shared.checkpoints).watermarks().values()) == {DEMO_END}
