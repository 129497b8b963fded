"""How observations combine: rows within one window, a window with what is stored, findings into a case.

Scans read overlapping windows (each re-reads ``SCAN_OVERLAP`` before its watermark), so the same
events reach the ledger more than once. The merge rule makes that harmless:

- ``first_seen`` is the minimum and ``last_seen`` the maximum of what was seen;
- ``count`` adds up only when the two observations' ``[first_seen, last_seen]`` spans are disjoint —
  the new one starts after the stored ``last_seen`` (the usual case: a later window), or ends before
  the stored ``first_seen`` (a concurrent or catch-up scan storing an older window last) — then they
  cannot share an event; otherwise they may, and the count is the larger of the two.

So re-reading a window, in the overlap or by a second scan running at the same time, never counts an
event twice. The price: when a token is used both before and inside the overlap, the stored count is
a lower bound (events of the new window that were not in the old one are not added). Times are exact.

Rows of one rule in one window that share an identity (the same token seen from two IPs, say) are
distinct groups of the rule's ``summarize``, so they never share an event and their counts add up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from shared.cases.model import Case, Transition, higher_severity
from shared.cases.principal import FindingIdentity, Principal, finding_identity
from shared.detect.findings import Finding
from shared.detect.ruleset import Severity

__all__ = [
    "MAX_FINDING_REFS",
    "MAX_LISTED",
    "CaseDelta",
    "Observation",
    "Sighting",
    "absorb",
    "bounded_union",
    "merge_observation",
    "new_case",
    "sightings",
]

MAX_FINDING_REFS = 400
"""References a case stores inline; it keeps a JSON list well under Table Storage's 64 KiB property."""
MAX_LISTED = 50
"""Entries kept in other inline lists (token ids, UPNs, IPs, apps)."""


@dataclass(frozen=True, kw_only=True)
class Observation:
    first_seen: datetime
    last_seen: datetime
    count: int


def merge_observation(stored: Observation, new: Observation) -> Observation:
    """The stored observation updated with a new one, per the module's merge rule."""
    disjoint = new.first_seen > stored.last_seen or new.last_seen < stored.first_seen
    count = stored.count + new.count if disjoint else max(stored.count, new.count)
    return Observation(first_seen=min(stored.first_seen, new.first_seen),
                       last_seen=max(stored.last_seen, new.last_seen), count=count)


def bounded_union(existing: Sequence[str], new: Iterable[str], limit: int = MAX_LISTED) -> tuple[str, ...]:
    """*existing* followed by the new values it lacks, in order, at most *limit* of them."""
    merged = list(dict.fromkeys(existing))
    seen = set(merged)
    for value in new:
        if len(merged) >= limit:
            break
        if value and value not in seen:
            merged.append(value)
            seen.add(value)
    return tuple(merged[:limit])


@dataclass(frozen=True, kw_only=True)
class Sighting:
    """One finding as one window saw it: the rows sharing an identity, combined.

    ``finding`` is the earliest row, whose identifying fields (user, token, key, issuer) the ledger keeps.
    """

    identity: FindingIdentity
    finding: Finding
    observation: Observation
    ip_addresses: tuple[str, ...]
    app_ids: tuple[str, ...]

    @property
    def severity(self) -> Severity:
        return self.finding.severity


def sightings(findings: Iterable[Finding]) -> list[Sighting]:
    """Combine one window's rows by identity; the order of first appearance is kept."""
    grouped: dict[FindingIdentity, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding_identity(finding), []).append(finding)
    result = []
    for identity, rows in grouped.items():
        rows.sort(key=lambda row: (row.first_seen, row.last_seen))
        result.append(Sighting(
            identity=identity,
            finding=rows[0],
            observation=Observation(first_seen=min(r.first_seen for r in rows),
                                    last_seen=max(r.last_seen for r in rows),
                                    count=sum(max(r.count, 0) for r in rows)),
            ip_addresses=bounded_union((), (r.ip_address or "" for r in rows)),
            app_ids=bounded_union((), ((r.app_id or "").lower() for r in rows)),
        ))
    return result


@dataclass(frozen=True, kw_only=True)
class CaseDelta:
    """What absorbing sightings changed; a case ``needs_work`` when it is new to the responder."""

    refs_added: int
    severity_raised: bool
    changed: bool


def _summary(sightings_: Sequence[Sighting]) -> tuple[Severity, datetime, datetime]:
    severity: Severity = "Informational"
    for sighting in sightings_:
        severity = higher_severity(severity, sighting.severity)
    return (severity, min(s.observation.first_seen for s in sightings_),
            max(s.observation.last_seen for s in sightings_))


def new_case(*, case_id: str, principal: Principal, generation: int, sightings_: Sequence[Sighting],
             at: datetime) -> Case:
    """A case opened for *sightings_* (at least one), in state ``new``, with the opening recorded."""
    if not sightings_:
        raise ValueError("a case is opened for at least one finding")
    severity, first, last = _summary(sightings_)
    rules = sorted({s.identity.rule_id for s in sightings_})
    opened = Case(
        case_id=case_id, principal=principal, generation=generation, state="new", severity=severity,
        first_seen=first, last_seen=last, created_at=at, updated_at=at, rule_ids=(), finding_refs=(),
        more_findings=False, token_ids=(), user_upns=(),
        transitions=(Transition(at=at, from_state=None, to_state="new",
                                reason=f"opened by {', '.join(rules)} for {principal.key}"),),
    )
    case, _ = absorb(opened, sightings_, at=at)
    return case


def absorb(case: Case, sightings_: Sequence[Sighting], *, at: datetime) -> tuple[Case, CaseDelta]:
    """*case* with *sightings_* added: references and lists unioned (bounded), times widened, severity
    only ever raised. Absorbing the same sightings again changes nothing."""
    if not sightings_:
        return case, CaseDelta(refs_added=0, severity_raised=False, changed=False)
    severity, first, last = _summary(sightings_)
    new_refs = [s.identity.ref for s in sightings_]
    refs = bounded_union(case.finding_refs, new_refs, MAX_FINDING_REFS)
    present = set(case.finding_refs)
    more = case.more_findings or any(ref not in present and ref not in refs for ref in new_refs)
    updated = replace(
        case,
        severity=higher_severity(case.severity, severity),
        first_seen=min(case.first_seen, first),
        last_seen=max(case.last_seen, last),
        rule_ids=tuple(sorted(set(case.rule_ids) | {s.identity.rule_id for s in sightings_})),
        finding_refs=refs,
        more_findings=more,
        token_ids=bounded_union(case.token_ids, (s.finding.token_id or "" for s in sightings_)),
        user_upns=bounded_union(case.user_upns, ((s.finding.user_upn or "").lower() for s in sightings_)),
    )
    changed = updated != case
    if changed:
        updated = replace(updated, updated_at=max(case.updated_at, at))
    return updated, CaseDelta(refs_added=len(refs) - len(case.finding_refs),
                              severity_raised=updated.severity != case.severity, changed=changed)
