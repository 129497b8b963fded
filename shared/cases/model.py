"""A case's lifecycle: its states, which may follow which, and the record every transition leaves.

Every change of state goes through :func:`transition`, which refuses a move the lifecycle does not
allow and records when and why the case moved, so the history an analyst reads is the one the
response engine acted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from shared.cases.principal import Principal
from shared.core.errors import TokenwardenError
from shared.detect.ruleset import Severity

__all__ = [
    "ALLOWED_TRANSITIONS",
    "AS_CONFIGURED",
    "CASE_STATES",
    "OPEN_STATES",
    "WORK_ATTEMPTS",
    "Case",
    "CaseState",
    "InvalidTransition",
    "Transition",
    "WorkRequest",
    "higher_severity",
    "retry_delay",
    "severity_rank",
    "transition",
]

CaseState = Literal["new", "enriched", "awaiting_approval", "responding", "contained", "containment_breached", "failed",
                    "closed"]
CASE_STATES: tuple[CaseState, ...] = get_args(CaseState)
OPEN_STATES: frozenset[CaseState] = frozenset(CASE_STATES) - {"closed"}

ALLOWED_TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    "new": frozenset({"enriched", "failed", "closed"}),
    "enriched": frozenset({"awaiting_approval", "responding", "failed", "closed"}),
    "awaiting_approval": frozenset({"responding", "failed", "closed"}),
    "responding": frozenset({"contained", "failed"}),
    "contained": frozenset({"responding", "containment_breached", "closed"}),
    "containment_breached": frozenset({"responding", "closed"}),
    "failed": frozenset({"enriched", "awaiting_approval", "responding", "closed"}),
    "closed": frozenset(),
}
"""``responding`` may only end in ``contained`` or ``failed``: an action under way is never silently
dropped by a close. A contained case may respond again (new findings after containment); a failed
one may be re-enriched, retried, or wait for an approver to retry it. ``containment_breached``: a token issued
before the case's revocation was used after it (rule ``containment-breached``), so the containment did not hold;
the case is reported again and waits for an approver to respond or an analyst to close it. ``closed`` is final:
re-detection opens the next generation."""

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
    approved_by: str | None = None
    """Set by an approval (``POST /cases/{id}/approve``): a re-queue of the case resumes the same approved response,
    rather than planning it again and waiting for a second approval (or, worse, stranding it in ``responding``).
    A later mark (new findings) replaces the whole request, so an approval never extends to work it did not see."""


AS_CONFIGURED = WorkRequest()
"""The work a scan or event asks for: the configured mode, the ``tokenwarden`` actor, the message's run id."""

WORK_ATTEMPTS = 4
"""Respond passes that may end with the case ``failed`` (a step failed after its own retries, or the worker died on
the message until the host parked it as poison) before the outbox stops re-queueing it. Four passes, three
automatic retries, spread over almost two hours (:func:`retry_delay`): long enough to outlast a Graph or storage
incident, short enough that a permanent failure (a permission never granted) stops costing writes and log noise
and is left, ``failed`` and visible, to an operator, who resumes it with ``POST /api/respond``."""

_FIRST_RETRY = timedelta(minutes=15)


def retry_delay(failed_passes: int) -> timedelta:
    """How long a case waits before its next automatic pass after *failed_passes* (1, 2, 3) passes ended ``failed``:
    15, 30, 60 minutes. Doubling backs off from an outage that is still going on; the first wait is longer than the
    re-queue age (10 minutes) and a lease (5), so a retry never races the invocation that just failed."""
    return _FIRST_RETRY * int(2 ** max(0, failed_passes - 1))


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
    work_attempts: int = 0
    """Respond passes on the current mark that ended with the case ``failed``; a new mark starts again at 0. Kept
    after the outbox gives up (the mark cleared, :data:`WORK_ATTEMPTS` reached), so the case says how often it
    was tried."""
    work_retry_at: datetime | None = None
    """The outbox re-queues the mark no earlier than this (the backoff after a failed pass); None: no wait."""

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
