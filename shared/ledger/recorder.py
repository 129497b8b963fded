"""Recording findings: into the Findings table (deduplicated) and onto cases (one per principal).

One call records one batch — a scan round's findings from every rule — in an order that makes
re-running it, or running it in two processes at once, converge on the same ledger:

1. rows are combined per finding identity (:func:`shared.cases.merge.sightings`);
2. every (UPN → object id) pair in the batch is stored as an alias before any principal is resolved,
   so a UPN-only finding joins its user's case even when both arrive in the same batch;
3. per principal, its open case is found or reserved (principal record), the sightings are attached
   to it (creating it if needed), and only then each finding is written, naming its case. A case that
   closed meanwhile is released and the next generation opened instead.

If a run stops half-way the scan's watermark has not moved, the batch is recorded again next time,
and every step above is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.cases.merge import Sighting, sightings
from shared.cases.model import AS_CONFIGURED, CaseState, WorkRequest
from shared.cases.principal import Principal, case_subject, own_principal, upn_alias
from shared.detect.findings import Finding
from shared.detect.ruleset import Severity
from shared.ledger.case_store import AttachResult, CaseStore
from shared.ledger.connection import Ledger
from shared.ledger.finding_store import FindingStore
from shared.ledger.optimistic import LedgerConflictError

__all__ = ["CaseChange", "RecordResult", "record_findings"]

_MAX_GENERATION_HOPS = 10


@dataclass(frozen=True, kw_only=True)
class CaseChange:
    """What one batch did to one case. ``needs_work``: it is new, has new findings, or rose in severity."""

    case_id: str
    principal: Principal
    created: bool
    refs_added: int
    severity_raised: bool
    state: CaseState
    severity: Severity

    @property
    def needs_work(self) -> bool:
        return self.created or self.refs_added > 0 or self.severity_raised


@dataclass(frozen=True, kw_only=True)
class RecordResult:
    findings_new: int
    findings_merged: int
    findings_unchanged: int
    changes: tuple[CaseChange, ...]

    @property
    def cases_to_queue(self) -> tuple[str, ...]:
        """Cases to hand to response: changed by this recording, or still ``new`` (a redelivered event finds its
        findings already stored, and its cases must still be queued)."""
        return tuple(c.case_id for c in self.changes if c.needs_work or c.state == "new")


def _principals(cases: CaseStore, batch: list[Sighting], *, now: datetime) -> dict[Principal, list[Sighting]]:
    for pair in dict.fromkeys(alias for s in batch if (alias := upn_alias(s.finding)) is not None):
        cases.record_alias(pair[0], pair[1], now=now)
    resolved: dict[Principal, Principal | None] = {}
    groups: dict[Principal, list[Sighting]] = {}
    for sighting in batch:
        principal = case_subject(sighting.finding)
        own = own_principal(sighting.finding)
        if own is not None and own.kind == "upn":
            if own not in resolved:
                resolved[own] = cases.resolve_alias(own)
            principal = resolved[own] or own
        groups.setdefault(principal, []).append(sighting)
    return groups


def _attach(cases: CaseStore, principal: Principal, group: list[Sighting], *, now: datetime,
            work: WorkRequest) -> AttachResult:
    for _ in range(_MAX_GENERATION_HOPS):
        case_id, generation = cases.open_case_for(principal, now=now)
        attached = cases.attach(case_id, principal, generation, group, now=now, work=work)
        if attached is not None:
            return attached
        cases.release(principal, case_id, now=now)  # it closed: the next round opens the next generation
    raise LedgerConflictError(f"principal {principal.key}: its cases kept closing while findings were attached")


def record_findings(ledger: Ledger, findings: Iterable[Finding], *, now: datetime,
                    work: WorkRequest = AS_CONFIGURED) -> RecordResult:
    """Store *findings* and open or update their cases; returns what changed. *work* is what the recording
    request asks of the respond worker (an HTTP request's narrowed mode, actor and run): it is kept with each
    changed case's outbox mark, so a re-queue from the mark runs the case the same way."""
    case_store, finding_store = CaseStore(ledger.cases), FindingStore(ledger.findings)
    batch = sightings(findings)
    counts = {"new": 0, "merged": 0, "unchanged": 0}
    changes: list[CaseChange] = []
    for principal, group in _principals(case_store, batch, now=now).items():
        attached = _attach(case_store, principal, group, now=now, work=work)
        for sighting in group:
            write = finding_store.record(sighting, case_id=attached.case.case_id, principal=principal, now=now)
            counts[write.outcome] += 1
        changes.append(CaseChange(
            case_id=attached.case.case_id, principal=principal, created=attached.created,
            refs_added=attached.delta.refs_added, severity_raised=attached.delta.severity_raised,
            state=attached.case.state, severity=attached.case.severity,
        ))
    return RecordResult(findings_new=counts["new"], findings_merged=counts["merged"],
                        findings_unchanged=counts["unchanged"], changes=tuple(changes))
