"""A case's lifecycle: its states, which may follow which, and the record every transition leaves.

Every change of state goes through :func:`transition`, which refuses a move the lifecycle does not
allow and records when and why the case moved, so the history an analyst reads is the one the
response engine acted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, get_args

from shared.cases.principal import Principal
from shared.core.errors import TokenwardenError
from shared.detect.ruleset import Severity

__all__ = [
    "ALLOWED_TRANSITIONS",
    "AS_CONFIGURED",
    "CASE_STATES",
    "OPEN_STATES",
    "Case",
    "CaseState",
    "InvalidTransition",
    "Transition",
    "WorkRequest",
    "higher_severity",
    "severity_rank",
    "transition",
]

CaseState = Literal["new", "enriched", "awaiting_approval", "responding", "contained", "failed", "closed"]
CASE_STATES: tuple[CaseState, ...] = get_args(CaseState)
OPEN_STATES: frozenset[CaseState] = frozenset(CASE_STATES) - {"closed"}

ALLOWED_TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    "new": frozenset({"enriched", "failed", "closed"}),
    "enriched": frozenset({"awaiting_approval", "responding", "failed", "closed"}),
    "awaiting_approval": frozenset({"responding", "failed", "closed"}),
    "responding": frozenset({"contained", "failed"}),
    "contained": frozenset({"responding", "closed"}),
    "failed": frozenset({"enriched", "awaiting_approval", "responding", "closed"}),
    "closed": frozenset(),
}
"""``responding`` may only end in ``contained`` or ``failed``: an action under way is never silently
dropped by a close. A contained case may respond again (new findings after containment); a failed
one may be re-enriched, retried, or wait for an approver to retry it. ``closed`` is final: re-detection
opens the next generation."""

_SEVERITY_ORDER: tuple[Severity, ...] = ("Informational", "Low", "Medium", "High")


def severity_rank(severity: Severity) -> int:
    return _SEVERITY_ORDER.index(severity)


def higher_severity(first: Severity, second: Severity) -> Severity:
    return first if severity_rank(first) >= severity_rank(second) else second


class InvalidTransition(TokenwardenError):
    """The lifecycle does not allow the requested move (for example, out of ``closed``)."""


@dataclass(frozen=True, kw_only=True)
class Transition:
    at: datetime
    from_state: CaseState | None
    to_state: CaseState
    reason: str


@dataclass(frozen=True, kw_only=True)
class WorkRequest:
    """What the request that set a case's outbox mark asked of the respond worker, kept with the mark.

    A re-queue from the mark (the scan timer's safety net after a lost message, or after a worker died holding
    the lease) must run the case as that request asked: a manual ``dry_run`` respond stays a dry run, under its
    own actor and run id (so its incident comment and notification keep their idempotency keys). Empty: the
    configured ``RESPONSE_MODE``, for the ``tokenwarden`` actor, under the queue message's run id.
    """

    mode: str | None = None
    actor: str | None = None
    run: str | None = None


AS_CONFIGURED = WorkRequest()
"""The work a scan or event asks for: the configured mode, the ``tokenwarden`` actor, the message's run id."""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One case as stored. ``finding_refs`` holds up to the ledger's bound of ``<rule id>:<row key>``
    references; past it ``more_findings`` is set and the Findings table (by ``CaseId``) is the full list."""

    case_id: str
    principal: Principal
    generation: int
    state: CaseState
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    created_at: datetime
    updated_at: datetime
    rule_ids: tuple[str, ...]
    finding_refs: tuple[str, ...]
    more_findings: bool
    token_ids: tuple[str, ...]
    user_upns: tuple[str, ...]
    transitions: tuple[Transition, ...]
    transitions_dropped: int = 0
    enrichment: Mapping[str, Any] | None = None
    """The latest enrichment (``CaseEnrichment.to_json()``), including what could not be looked up."""
    decision: Mapping[str, Any] | None = None
    """The latest triage decision: severity, playbook, the rule that matched and why."""
    sentinel_incident: str | None = None
    """The Sentinel incident (name, a GUID) this case reports to, when it came from one; None means our own."""
    work_wanted: datetime | None = None
    """The outbox mark: when the case last needed the respond worker (set in the same write that recorded the
    change, cleared when a respond pass finished with it); None when no work is wanted."""
    work_request: WorkRequest = AS_CONFIGURED
    """What the request that set :attr:`work_wanted` asked for; a later mark replaces it with its own."""

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


def transition(case: Case, to_state: CaseState, *, reason: str, at: datetime) -> Case:
    """The case moved to *to_state*, with the move recorded; raises InvalidTransition if not allowed."""
    if to_state not in CASE_STATES:
        raise InvalidTransition(f"{to_state!r} is not a case state; expected one of {', '.join(CASE_STATES)}")
    if to_state not in ALLOWED_TRANSITIONS[case.state]:
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[case.state])) or "nothing (it is final)"
        raise InvalidTransition(f"case {case.case_id} is {case.state}; it may move to {allowed}, not {to_state}")
    if not reason.strip():
        raise InvalidTransition(f"moving case {case.case_id} to {to_state} needs a reason")
    record = Transition(at=at, from_state=case.state, to_state=to_state, reason=" ".join(reason.split()))
    return replace(case, state=to_state, updated_at=max(case.updated_at, at),
                   transitions=(*case.transitions, record))
