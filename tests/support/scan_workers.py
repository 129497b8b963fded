"""Entry points for the separate processes of the concurrency tests (importable by ``spawn`` children).

Each worker opens its own ledger client, prepares everything slow (workspace load, key files), then
waits on a barrier so that the writes of both processes really overlap, and reports what it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from shared.core.settings import load_settings
from shared.detect.findings import Finding
from shared.ledger.connection import LedgerTableNames, open_ledger

BARRIER_TIMEOUT = 300.0


def _summary(name: str, new: int, merged: int, unchanged: int, created: Sequence[str],
             needing_work: Sequence[str]) -> dict[str, Any]:
    return {"worker": name, "new": new, "merged": merged, "unchanged": unchanged, "created": list(created),
            "needing_work": list(needing_work)}


def record_batches(name: str, environment: Mapping[str, str], names: LedgerTableNames,
                   batches: Sequence[Sequence[Finding]], now: datetime, barrier: Barrier,
                   results: Queue[dict[str, Any]]) -> None:
    """Record each batch in turn, as the rounds of a scan would."""
    from shared.ledger.recorder import record_findings

    ledger = open_ledger(load_settings(environment), names=names)
    try:
        barrier.wait(BARRIER_TIMEOUT)
        totals = {"new": 0, "merged": 0, "unchanged": 0}
        created: list[str] = []
        needing: list[str] = []
        for batch in batches:
            result = record_findings(ledger, batch, now=now)
            totals["new"] += result.findings_new
            totals["merged"] += result.findings_merged
            totals["unchanged"] += result.findings_unchanged
            created += [c.case_id for c in result.changes if c.created]
            needing += [c.case_id for c in result.changes if c.needs_work]
        results.put(_summary(name, totals["new"], totals["merged"], totals["unchanged"], created, needing))
    finally:
        ledger.close()


def run_scan_after_barrier(name: str, environment: Mapping[str, str], names: LedgerTableNames, now: datetime,
                           barrier: Barrier, results: Queue[dict[str, Any]]) -> None:
    """A whole scan (every rule, chunked) against the shared ledger, started in step with the other."""
    from shared.detect.ruleset import load_rules
    from shared.jobs.checkpoints import ScanPolicy
    from shared.jobs.scan import scan
    from shared.jobs.wiring import build_hunt_context, build_log_source

    settings = load_settings(environment)
    ledger = open_ledger(settings, names=names)
    source = build_log_source(settings)
    try:
        context, rules = build_hunt_context(settings), load_rules()
        barrier.wait(BARRIER_TIMEOUT)
        report = scan(source, rules, context=context, ledger=ledger, policy=ScanPolicy.from_settings(settings),
                      now=now)
        results.put(_summary(name, report.findings_new, report.findings_merged, report.findings_unchanged,
                             report.cases_created, report.cases_needing_work))
    finally:
        source.close()
        ledger.close()
