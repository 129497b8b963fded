"""The scheduled scan: per rule, read its checkpoint, scan the windows it is due, record, then advance.

Everything environment-specific (log source, key intelligence, ledger) is built from :class:`Settings` by
:mod:`shared.jobs.wiring`, so the timer adapter stays a few lines and tests drive the same path with their
own settings or their own pieces (:func:`scan`).

A scan runs in rounds. Round *i* runs chunk *i* of every rule that still has one
(:func:`shared.jobs.checkpoints.plan_windows`), records all the round's findings in one batch
(:func:`shared.ledger.recorder.record_findings`, so aliases from one rule serve the others), and only
then advances each rule's watermark to the end of the chunk it completed. A rule whose query fails
or comes back partial keeps the findings it got, but its watermark stays put and it scans no further
chunks this time: the next scan re-reads from there, so nothing is skipped.

The outbox: recording a change marks its case as wanting work in the same write
(:meth:`shared.ledger.case_store.CaseStore.attach`), and the respond pass that finishes with the case
clears the mark. A scan queues the cases it changed and also every case whose mark is older than
:data:`REQUEUE_AFTER` and that no invocation holds, so a case whose message was never sent (storage
failed mid-scan) or whose worker died is picked up again instead of waiting in ``new`` forever. A pass that
ends with the case ``failed`` keeps the mark but delays it (:func:`shared.cases.model.retry_delay`), and after
:data:`shared.cases.model.WORK_ATTEMPTS` such passes the mark is cleared: the case stays ``failed`` for an
operator instead of being re-queued by every scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from shared.core.settings import Settings
from shared.detect.hunt import HuntContext, RuleRun, RunStatus, run_hunt
from shared.detect.logsources.base import LogSource, TimeRange
from shared.jobs.checkpoints import ScanPolicy, WindowPlan, plan_windows
from shared.jobs.time_budget import ScanBudget

if TYPE_CHECKING:
    from shared.cases.enrich.graph import GraphDirectory
    from shared.cases.policy.model import Policy
    from shared.cases.triage import TriageOutcome
    from shared.detect.findings import Finding
    from shared.detect.ruleset import RuleCollection
    from shared.ledger.case_store import StaleMark
    from shared.ledger.connection import Ledger
    from shared.ledger.recorder import CaseChange
    from shared.respond.work_queue import WorkItem

__all__ = [
    "REQUEUE_AFTER",
    "RuleProgress",
    "ScanReport",
    "run_scan",
    "scan",
    "scan_and_triage",
    "stale_cases",
]

REQUEUE_AFTER = timedelta(minutes=10)
"""Longer than a lease (5 minutes) and than a respond message normally waits, so a case is re-queued only when
its earlier message or worker is really gone; at most one scan interval of extra delay when it is."""


@dataclass(frozen=True, kw_only=True)
class RuleProgress:
    """One rule's checkpoint before and after the scan, and the windows it scanned and stored.

    ``caught_up``: the watermark reached ``now - INGESTION_DELAY``; otherwise a later scan continues.
    """

    rule_id: str
    watermark_before: datetime | None
    watermark_after: datetime | None
    target: datetime
    windows: tuple[TimeRange, ...]
    planned: int

    @property
    def caught_up(self) -> bool:
        return self.watermark_after is not None and self.watermark_after >= self.target


@dataclass(frozen=True, kw_only=True)
class ScanReport:
    """What one scan did. ``findings``, ``runs`` and ``warnings`` read like a hunt report's (one run per
    rule that scanned, over all its chunks); the rest is what the ledger recorded."""

    now: datetime
    source: str
    findings: tuple[Finding, ...]
    runs: tuple[RuleRun, ...]
    warnings: tuple[str, ...]
    progress: tuple[RuleProgress, ...]
    findings_new: int
    findings_merged: int
    findings_unchanged: int
    changes: tuple[CaseChange, ...]
    requeued: tuple[StaleMark, ...] = ()
    """Cases (and what their mark's request asked) whose outbox mark is older than :data:`REQUEUE_AFTER` and
    that no invocation holds: their earlier respond message was lost (storage failed before it was queued) or
    its worker died."""

    @property
    def complete(self) -> bool:
        return all(run.status == "complete" for run in self.runs)

    @property
    def cases_created(self) -> tuple[str, ...]:
        return tuple(c.case_id for c in self.changes if c.created)

    @property
    def cases_updated(self) -> tuple[str, ...]:
        return tuple(c.case_id for c in self.changes if not c.created and (c.refs_added or c.severity_raised))

    @property
    def cases_needing_work(self) -> tuple[str, ...]:
        """The cases to hand to enrichment and response: new, with new findings, or more severe."""
        return tuple(c.case_id for c in self.changes if c.needs_work)

    @property
    def cases_to_queue(self) -> tuple[str, ...]:
        """One respond message each: the cases this scan changed, then the ones re-queued from their marks."""
        return tuple(dict.fromkeys((*self.cases_needing_work, *(mark.case_id for mark in self.requeued))))

    def work_items(self) -> list[WorkItem]:
        """The respond messages for :attr:`cases_to_queue`. A case this scan changed runs as the scan's (the
        configured mode); a re-queued one carries what the request that set its mark asked for (mode, actor,
        run id, approver), so a manual dry run re-queued after a lost message is still a dry run, and an approved
        response whose invocation died or failed resumes as the same approved response."""
        from shared.respond.work_queue import WorkItem

        changed = set(self.cases_needing_work)
        asked = {mark.case_id: mark.request for mark in self.requeued if mark.case_id not in changed}
        items = []
        for case_id in self.cases_to_queue:
            request = asked.get(case_id)
            if request is None:
                items.append(WorkItem(case_id=case_id, queued_at=self.now, reason="scan"))
            else:
                items.append(WorkItem(case_id=case_id, queued_at=self.now, reason="scan:requeue", mode=request.mode,
                                      actor=request.actor, run=request.run, approved_by=request.approved_by))
        return items


def run_scan(settings: Settings, *, now: datetime, ledger: Ledger | None = None,
             budget: ScanBudget | None = None) -> ScanReport:
    """Scan every rule from its checkpoint up to ``now - INGESTION_DELAY`` and record what it finds.

    Opens (and closes) the ledger from settings unless one is given. *budget*: the time the queries may take
    (the timer passes the one host.json's ``functionTimeout`` gives); None: no budget.
    """
    from shared.detect.ruleset import load_rules
    from shared.jobs.wiring import build_hunt_context, build_log_source
    from shared.ledger.connection import open_ledger

    policy = ScanPolicy.from_settings(settings)
    own_ledger = ledger is None
    active_ledger = open_ledger(settings) if ledger is None else ledger  # first: a missing ledger fails fast
    try:
        context = build_hunt_context(settings)
        source = build_log_source(settings)
        try:
            report = scan(source, load_rules(), context=context, ledger=active_ledger, policy=policy, now=now,
                          budget=budget)
        finally:
            source.close()
        return replace(report, requeued=tuple(stale_cases(active_ledger, now=now)))
    finally:
        if own_ledger:
            active_ledger.close()


def stale_cases(ledger: Ledger, *, now: datetime) -> list[StaleMark]:
    """The outbox's safety net: cases marked as wanting work for over :data:`REQUEUE_AFTER`, held by nobody and
    not waiting out a retry delay after a failed pass, each with what the request that set its mark asked for (its
    mode, actor, run id and approver)."""
    from shared.ledger.case_store import CaseStore

    return CaseStore(ledger.cases).wanting_work(marked_before=now - REQUEUE_AFTER, now=now)


def _combine_runs(runs: Sequence[RuleRun]) -> RuleRun:
    """One rule's chunk runs as one: the worst status, the first problem, the span they covered."""
    statuses = {run.status for run in runs}
    worst: RunStatus = "failed" if "failed" in statuses else "partial" if "partial" in statuses else "complete"
    return RuleRun(
        rule_id=runs[0].rule_id,
        status=worst,
        findings=sum(r.findings for r in runs),
        elapsed_seconds=sum(r.elapsed_seconds for r in runs),
        timespan=TimeRange(start=runs[0].timespan.start, end=runs[-1].timespan.end),
        message=next((r.message for r in runs if r.message), None),
    )


def _merge_change(previous: CaseChange | None, change: CaseChange) -> CaseChange:
    if previous is None:
        return change
    return replace(change, created=previous.created or change.created,
                   refs_added=previous.refs_added + change.refs_added,
                   severity_raised=previous.severity_raised or change.severity_raised)


def scan(source: LogSource, rules: RuleCollection, *, context: HuntContext, ledger: Ledger, policy: ScanPolicy,
         now: datetime, budget: ScanBudget | None = None) -> ScanReport:
    """Scan *rules* on *source* from their checkpoints in *ledger*, in rounds of one chunk per rule.

    With a *budget*, each query's deadline is an even share of the time left among the queries left; once too
    little is left, the rules not yet run are reported as not run and keep their checkpoints.
    """
    from shared.jobs.containment import OWN_REVOCATIONS_PARAMETER, with_own_revocations
    from shared.jobs.key_history import with_key_history
    from shared.ledger.checkpoint_store import CheckpointStore
    from shared.ledger.recorder import record_findings

    if any(OWN_REVOCATIONS_PARAMETER in rule.parameter_names for rule in rules):
        # Proof that containment held: the containment-breached rule checks the ledger's own revocations.
        context = with_own_revocations(context, ledger, now=now)
    if any("retired_keys" in rule.parameter_names for rule in rules):
        context = with_key_history(context, ledger)  # keys rotated out since a token was issued are not forged
    checkpoints = CheckpointStore(ledger.checkpoints)
    stored_watermarks = checkpoints.watermarks()
    plans: dict[str, WindowPlan] = {
        rule.id: plan_windows(stored_watermarks.get(rule.id), now=now, policy=policy) for rule in rules
    }
    watermarks: dict[str, datetime | None] = {rule_id: plan.watermark for rule_id, plan in plans.items()}
    stored: dict[str, list[TimeRange]] = {rule.id: [] for rule in rules}
    runs: dict[str, list[RuleRun]] = {rule.id: [] for rule in rules}
    halted: set[str] = set()
    findings: list[Finding] = []
    warnings: dict[str, None] = {}
    changes: dict[str, CaseChange] = {}
    totals = {"new": 0, "merged": 0, "unchanged": 0}

    ordered = list(rules)
    for index in range(max((len(plan.windows) for plan in plans.values()), default=0)):
        batch: list[Finding] = []
        completed: list[tuple[str, TimeRange]] = []
        for position, rule in enumerate(ordered):
            windows = plans[rule.id].windows
            if rule.id in halted or index >= len(windows):
                continue
            timeout = None
            if budget is not None:
                left = sum(max(0, len(plans[r.id].windows) - index - (1 if p < position else 0))
                           for p, r in enumerate(ordered) if r.id not in halted)
                timeout = budget.per_query(left)
                if timeout is None:
                    runs[rule.id].append(_not_run(rule.id, windows[index], budget))
                    halted.add(rule.id)  # its checkpoint stays: the next scan runs it
                    continue
            report = run_hunt(source, rules.select([rule.id]), window=windows[index], context=context,
                              timeout=timeout)
            runs[rule.id].extend(report.runs)
            batch.extend(report.findings)
            warnings.update(dict.fromkeys(report.warnings))
            if report.complete:
                completed.append((rule.id, windows[index]))
            else:
                halted.add(rule.id)  # keep what it found; re-read this window next time
        result = record_findings(ledger, batch, now=now)
        findings.extend(batch)
        totals["new"] += result.findings_new
        totals["merged"] += result.findings_merged
        totals["unchanged"] += result.findings_unchanged
        for change in result.changes:
            changes[change.case_id] = _merge_change(changes.get(change.case_id), change)
        for rule_id, window in completed:  # only now are this round's findings safely stored
            watermarks[rule_id] = checkpoints.advance(rule_id, window, now=now)
            stored[rule_id].append(window)

    findings.sort(key=lambda f: (_severity_order(f.severity), f.first_seen, f.rule_id))
    return ScanReport(
        now=now,
        source=source.description,
        findings=tuple(findings),
        runs=tuple(_combine_runs(rule_runs) for rule_runs in runs.values() if rule_runs),
        warnings=tuple(warnings),
        progress=tuple(
            RuleProgress(rule_id=rule.id, watermark_before=plans[rule.id].watermark,
                         watermark_after=watermarks[rule.id], target=plans[rule.id].target,
                         windows=tuple(stored[rule.id]), planned=len(plans[rule.id].windows))
            for rule in rules
        ),
        findings_new=totals["new"],
        findings_merged=totals["merged"],
        findings_unchanged=totals["unchanged"],
        changes=tuple(changes.values()),
    )


def _not_run(rule_id: str, window: TimeRange, budget: ScanBudget) -> RuleRun:
    return RuleRun(rule_id=rule_id, status="failed", findings=0, elapsed_seconds=0.0, timespan=window,
                   message=f"not run: the scan's time budget ({budget.seconds:.0f} s from functionTimeout) ran out; "
                           "its checkpoint is unchanged and the next scan runs it")


def _severity_order(severity: str) -> int:
    return {"High": 0, "Medium": 1, "Low": 2, "Informational": 3}.get(severity, 4)


def scan_and_triage(settings: Settings, *, ledger: Ledger, directory: GraphDirectory | None, now: datetime,
                    policy: Policy | None = None) -> tuple[ScanReport, list[TriageOutcome]]:
    """One pass of the unattended pipeline: scan from the checkpoints, then enrich and triage what changed."""
    from shared.cases.policy.loader import load_policy
    from shared.cases.triage import triage_cases
    from shared.detect.ruleset import load_rules
    from shared.jobs.wiring import build_hunt_context, build_key_intelligence, build_log_source

    if policy is None:
        policy = load_policy(Path(settings.triage_policy_file) if settings.triage_policy_file else None)
    source = build_log_source(settings)
    try:
        report = scan(source, load_rules(), context=build_hunt_context(settings), ledger=ledger,
                      policy=ScanPolicy.from_settings(settings), now=now)
        outcomes = triage_cases(ledger, report.cases_needing_work, directory=directory, source=source,
                                keys=build_key_intelligence(settings), policy=policy, now=now)
    finally:
        source.close()
    return report, outcomes
