"""Hunt one fixed window and record what it finds: the scan an event asks for (an alert's window, a rescan).

Unlike the scan timer (:func:`shared.jobs.scan.scan`) it neither reads nor moves checkpoints, so an event-driven
scan can never make the timer skip or repeat a window; the findings it records are deduplicated against the
timer's by the ledger. ``POST /scan`` (``shared/api/scan.py``) hunts its window the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.core.settings import Settings
from shared.detect.logsources.base import TimeRange

if TYPE_CHECKING:
    from shared.detect.hunt import HuntReport
    from shared.ledger.connection import Ledger
    from shared.ledger.recorder import RecordResult

__all__ = ["WindowScan", "hunt_window", "scan_window_into"]


@dataclass(frozen=True, kw_only=True)
class WindowScan:
    report: HuntReport
    recorded: RecordResult

    @property
    def case_ids(self) -> tuple[str, ...]:
        return self.recorded.cases_to_queue


def hunt_window(settings: Settings, *, window: TimeRange, rule_ids: Sequence[str] | None) -> HuntReport:
    """Run *rule_ids* (``None``: every rule) over *window* on the configured log source, recording nothing.

    :raises RuleError: a rule id is unknown.
    """
    from shared.detect.hunt import run_hunt
    from shared.detect.ruleset import load_rules
    from shared.jobs.wiring import build_hunt_context, build_log_source

    rules = load_rules().select(rule_ids)
    context = build_hunt_context(settings)
    source = build_log_source(settings)
    try:
        return run_hunt(source, rules, window=window, context=context)
    finally:
        source.close()


def scan_window_into(settings: Settings, ledger: Ledger, *, window: TimeRange, rule_ids: Sequence[str] | None,
                     now: datetime) -> WindowScan:
    """:func:`hunt_window`, then record the findings (cases opened or updated)."""
    from shared.ledger.recorder import record_findings

    report = hunt_window(settings, window=window, rule_ids=rule_ids)
    return WindowScan(report=report, recorded=record_findings(ledger, report.findings, now=now))
