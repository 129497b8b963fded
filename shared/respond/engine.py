"""Run a case's playbook under the guardrails, one recorded step at a time.

For each step and target the engine writes the *intent* to the Actions table
before it acts and the *outcome* after, under a deterministic action id. A
replayed or resumed run skips steps whose record is final; a step left at
``intent`` (the process died mid-step) re-reads the target first, so a user
already disabled or whose sessions were already revoked is not written twice.

Modes: ``dry-run`` records the plan (``planned``) and writes nothing outside the
ledger; ``approval`` records the plan and moves the case to
``awaiting_approval``; ``auto`` acts, within the blast radius. Protected
principals are never actioned, whatever the mode or approval.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.cases.model import Case
from shared.errors import TokenwardenError
from shared.ledger.connection import Ledger
from shared.policy.model import Playbook, PlaybookStep, Policy, TriageInput
from shared.respond.actions import FINAL_PHASES, ActionPhase, ActionStore
from shared.respond.graph_actions import GraphActions
from shared.respond.guardrails import BlastRadius, Guardrails

__all__ = ["CaseResponse", "ResponseEngine", "StepOutcome"]

GRAPH_USER_STEPS = ("revoke_sessions", "disable_user", "confirm_compromised")


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    step: str
    target: str
    phase: ActionPhase
    detail: Mapping[str, Any]


@dataclass(frozen=True, kw_only=True)
class CaseResponse:
    case_id: str
    state: str
    outcomes: tuple[StepOutcome, ...]
    reason: str


def _user_target(case: Case) -> str | None:
    """The user object id the Graph steps act on: from enrichment, else the case's own principal."""
    users = (case.enrichment or {}).get("users") or []
    for user in users:
        if user.get("status") == "ok" and user.get("id"):
            return str(user["id"])
    return case.principal.value if case.principal.kind == "user" else None


def _identifiers(case: Case) -> list[str | None]:
    users = (case.enrichment or {}).get("users") or []
    return [case.principal.value, *case.user_upns, *(u.get("id") for u in users),
            *(u.get("user_principal_name") for u in users)]


def _facts(case: Case) -> TriageInput:
    enrichment = case.enrichment or {}
    users = enrichment.get("users") or []
    privileged = [u.get("privileged") for u in users if u.get("privileged") is not None]
    return TriageInput(rule_ids=frozenset(case.rule_ids), finding_count=len(case.finding_refs),
                       privileged_user=any(privileged) if privileged else None,
                       risk_level=next((u.get("risk_level") for u in users if u.get("risk_level")), None))


@dataclass
class ResponseEngine:
    ledger: Ledger
    policy: Policy
    guardrails: Guardrails
    graph: GraphActions | None
    invocation_id: str
    blast: BlastRadius
    actor: str = "tokenwarden"
    _actions: ActionStore = field(init=False)

    def __post_init__(self) -> None:
        self._actions = ActionStore(self.ledger.actions)

    def _record(self, case: Case, step: str, target: str, phase: ActionPhase, detail: Mapping[str, Any],
                now: datetime) -> StepOutcome:
        record = self._actions.record(case.case_id, step, target, phase=phase, mode=self.guardrails.mode,
                                      invocation_id=self.invocation_id, detail=detail, now=now, actor=self.actor)
        return StepOutcome(step=step, target=target, phase=record.phase, detail=record.detail)

    def _playbook(self, case: Case) -> Playbook:
        name = str((case.decision or {}).get("playbook") or "")
        if name not in self.policy.playbooks:
            raise TokenwardenError(f"case {case.case_id} has no triage decision naming a known playbook ({name!r})")
        return self.policy.playbooks[name]

    def _steps(self, case: Case) -> list[tuple[PlaybookStep, str]]:
        facts = _facts(case)
        target = _user_target(case)
        chosen = []
        for step in self._playbook(case).steps:
            if step.when is not None and not step.when.matches(facts):
                continue
            if step.name in GRAPH_USER_STEPS:
                if target:
                    chosen.append((step, target))
            else:
                chosen.append((step, case.case_id))
        return chosen

    async def respond(self, case: Case, *, now: datetime, approved_by: str | None = None) -> CaseResponse:
        from shared.ledger.case_store import CaseStore

        cases = CaseStore(self.ledger.cases)
        current = cases.get(case.case_id)  # act on the stored state, not on a caller's stale copy
        if current is None:
            raise TokenwardenError(f"there is no case {case.case_id}")
        if not current.is_open or (current.state == "contained" and approved_by is None):
            return CaseResponse(case_id=current.case_id, state=current.state, outcomes=(),
                                reason=f"case is {current.state}; nothing to do")
        case = current
        steps = self._steps(case)
        protected = self.guardrails.protected_reason(_identifiers(case))
        if protected:
            outcomes = tuple(self._record(case, s.name, t, "refused", {"reason": protected}, now) for s, t in steps)
            moved = cases.transition(case.case_id, "awaiting_approval", reason=protected, at=now) \
                if case.state == "enriched" else case
            return CaseResponse(case_id=case.case_id, state=moved.state, outcomes=outcomes, reason=protected)
        if self.guardrails.mode == "dry-run" or (self.guardrails.mode == "approval" and approved_by is None):
            outcomes = tuple(self._record(case, s.name, t, "planned", {"mode": self.guardrails.mode}, now)
                             for s, t in steps)
            if self.guardrails.mode == "dry-run":
                return CaseResponse(case_id=case.case_id, state=case.state, outcomes=outcomes,
                                    reason="dry run: the plan is recorded and nothing was changed")
            reason = f"approval mode: {len(outcomes)} planned step(s) wait for an approver"
            moved = cases.transition(case.case_id, "awaiting_approval", reason=reason, at=now) \
                if case.state == "enriched" else case
            return CaseResponse(case_id=case.case_id, state=moved.state, outcomes=outcomes, reason=reason)
        refusal = self.blast.admit(case.case_id) if approved_by is None else None
        if refusal:
            outcomes = tuple(self._record(case, s.name, t, "planned", {"reason": refusal}, now) for s, t in steps)
            moved = cases.transition(case.case_id, "awaiting_approval", reason=refusal, at=now) \
                if case.state == "enriched" else case
            return CaseResponse(case_id=case.case_id, state=moved.state, outcomes=outcomes, reason=refusal)
        who = f"approved by {approved_by}" if approved_by else "automatic response"
        if case.state != "responding":
            case = cases.transition(case.case_id, "responding", reason=f"{who}: playbook "
                                    f"{self._playbook(case).name}", at=now)
        outcomes_list = [await self._run_step(case, step, target, now) for step, target in steps]
        failed = [o for o in outcomes_list if o.phase == "failed"]
        if failed:
            reason = "; ".join(f"{o.step} on {o.target} failed: {o.detail.get('error')}" for o in failed)
            moved = cases.transition(case.case_id, "failed", reason=reason, at=now)
        else:
            reason = f"{who}: {len(outcomes_list)} step(s) done"
            moved = cases.transition(case.case_id, "contained", reason=reason, at=now)
        return CaseResponse(case_id=case.case_id, state=moved.state, outcomes=tuple(outcomes_list), reason=reason)

    async def _run_step(self, case: Case, step: PlaybookStep, target: str, now: datetime) -> StepOutcome:
        existing = self._actions.get(case.case_id, step.name, target)
        if existing is not None and existing.phase in FINAL_PHASES:
            return StepOutcome(step=step.name, target=target, phase=existing.phase, detail=existing.detail)
        interrupted = existing is not None and existing.phase == "intent"
        if step.name not in GRAPH_USER_STEPS:
            return self._record(case, step.name, target, "skipped",
                                {"reason": f"the {step.name} step is not available in this version"}, now)
        if self.graph is None:
            return self._record(case, step.name, target, "failed", {"error": "Microsoft Graph is not configured"}, now)
        self._record(case, step.name, target, "intent", {"resumed": interrupted, "location": step.location}, now)
        try:
            detail = await self._graph_step(step.name, target, interrupted=interrupted,
                                            since=existing.updated_at if existing else now)
        except TokenwardenError as exc:
            return self._record(case, step.name, target, "failed", {"error": str(exc)}, now)
        return self._record(case, step.name, target, "succeeded", detail, now)

    async def _graph_step(self, step: str, user_id: str, *, interrupted: bool, since: datetime) -> dict[str, Any]:
        assert self.graph is not None
        if step == "disable_user":
            state = await self.graph.user_state(user_id)
            if not state.exists:
                raise TokenwardenError(f"user {user_id} does not exist")
            if state.account_enabled is False:
                return {"changed": False, "note": "already disabled; nothing written"}
            await self.graph.disable_user(user_id)
            return {"changed": True}
        if step == "revoke_sessions":
            if interrupted:
                state = await self.graph.user_state(user_id)
                if state.sessions_valid_from is not None and state.sessions_valid_from >= since:
                    return {"changed": False, "note": "sessions already revoked by the interrupted run"}
            await self.graph.revoke_sessions(user_id)
            return {"changed": True}
        calls = await self.graph.confirm_compromised([user_id])
        return {"changed": True, "calls": calls}
