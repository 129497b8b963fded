"""What every response step is: a name, the targets it plans, when it cannot run, and how it acts.

Each step is one class in its own module under ``shared/respond/steps/``, registered by name in
:mod:`shared.respond.steps.registry`. A step only *acts*: the bookkeeping around the act (skip a finished step,
record the intent, re-check the lease, read the target back when an earlier intent has no outcome, record the
outcome) is :class:`shared.respond.recorder.StepRecorder`'s, written once for every step and every caller.

The mechanisms a step acts through (Graph, the key-cache refresher, Sentinel, the webhook, the untrusted-key
list) are handed to it in :class:`Mechanisms`; a mechanism that is not configured is None, and the step's
:meth:`ResponseStep.unavailable` says what that means for it (a failed or a skipped step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from shared.cases.model import Case
from shared.respond.actions import ActionPhase

if TYPE_CHECKING:
    from shared.ledger.connection import Ledger
    from shared.respond.steps.confirm_batcher import ConfirmBatcher
    from shared.respond.steps.key_cache import KeyCacheRefresher
    from shared.respond.steps.notify import Notifier
    from shared.respond.steps.sentinel import SentinelIncidents
    from shared.respond.steps.untrusted_keys import UntrustedKeyPublisher
    from shared.respond.transport.graph_actions import GraphActions

__all__ = [
    "NO_TARGET",
    "Mechanisms",
    "PlanInputs",
    "ReportInput",
    "ResponseStep",
    "Resume",
    "StepCall",
    "StepOutcome",
    "Unavailable",
]

NO_TARGET = "none"
"""The target of a step that has nothing to act on (no registered key-cache refresh): recorded as skipped."""

Unavailable = tuple[ActionPhase, str]
"""Why a step cannot run: the phase to record (``failed`` or ``skipped``) and the reason, one line."""


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """What one step on one target came to, as recorded in the Actions table."""

    step: str
    target: str
    phase: ActionPhase
    detail: Mapping[str, Any]
    replayed: bool = field(default=False, compare=False)
    """The Actions table already held a final outcome for this target: nothing was sent this time."""

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "target": self.target, "phase": self.phase, "detail": dict(self.detail),
                "replayed": self.replayed}


@dataclass(frozen=True, kw_only=True)
class Mechanisms:
    """What steps act through; None is a mechanism this deployment (or this call) does not have."""

    graph: GraphActions | None = None
    batcher: ConfirmBatcher | None = None
    key_cache: KeyCacheRefresher | None = None
    publisher: UntrustedKeyPublisher | None = None
    incidents: SentinelIncidents | None = None
    notifier: Notifier | None = None


@dataclass(frozen=True, kw_only=True)
class PlanInputs:
    """What a playbook step's targets are computed from, besides the case."""

    user: str | None
    """The user object id the Graph steps act on (:func:`shared.respond.plan.user_target`)."""
    refresh_targets: Sequence[str]
    run_id: str
    incident: str | None


@dataclass(frozen=True, kw_only=True)
class ReportInput:
    """What a reporting step says: the run it reports on, why it ran, and what the acting steps did."""

    run_id: str
    reason: str
    acted: Sequence[StepOutcome]
    """The acting steps' outcomes (done, or held: planned or refused), in playbook order."""
    reported: Sequence[StepOutcome]
    """The outcomes of the reporting steps that ran before this one (the notification links the incident)."""
    ledger: Ledger
    """Where the reporting step re-reads the case and its findings, as they are after the acting steps."""


@dataclass(frozen=True, kw_only=True)
class StepCall:
    """One step on one target: what the step's checks and its act may look at."""

    case_id: str
    """The case the action is recorded under (a synthetic ``drift-``/``keys-`` id for a key refresh)."""
    target: str
    tools: Mechanisms
    case: Case | None = None
    """The case itself; None for a key refresh, which concerns every registered app rather than one case."""
    app_scope: Sequence[str] | None = None
    """The apps whose key caches are in scope; None is every registered app."""
    kids: Sequence[str] = ()
    """Key ids the apps must stop trusting."""
    reason: str = ""
    """One line passed on to the apps told to reload their keys."""
    report: ReportInput | None = None


@dataclass(frozen=True, kw_only=True)
class Resume:
    """What the recorder found before acting: an earlier intent with no outcome means the act may have happened."""

    resumed: bool
    since: datetime
    """When that earlier intent was recorded (now, when there is none): a read-back compares against it."""


class ResponseStep:
    """A response step. Subclasses set :attr:`name`, plan their targets and act; the recorder does the rest."""

    name: ClassVar[str]
    reporting: ClassVar[bool] = False
    """Reporting steps run after the acting ones, so they can say what was done; they never act on a principal."""
    in_playbooks: ClassVar[bool] = True
    """False for a step only Tokenwarden's own jobs run (publishing the untrusted-key list on key drift)."""
    needs_known_privilege: ClassVar[bool] = False
    """Unattended, the step waits for an approver while the user's privilege is unknown (disabling an account)."""

    def targets(self, case: Case, inputs: PlanInputs) -> list[str]:
        """The targets this step acts on for *case*; an empty list leaves the step out of the plan."""
        raise NotImplementedError(f"step {self.name} is not planned from a playbook")

    def unavailable(self, call: StepCall) -> Unavailable | None:
        """Why the step cannot run on this target, whoever approved it; None when it can."""
        return None

    def intent_detail(self, plan: Mapping[str, Any], resume: Resume) -> dict[str, Any]:
        """The detail recorded with the intent: the plan, and whether an earlier intent is being resumed."""
        return {**plan, "resumed": resume.resumed}

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        """Do the step and return the outcome's detail; a :class:`TokenwardenError` is recorded as failed."""
        raise NotImplementedError
