"""What a playbook means for one case: the steps whose conditions hold, each with the target it acts on.

Kept apart from the engine so the plan an approver is shown and the plan the
engine executes are computed by the same code. Each step's targets come from its
registered class (:mod:`shared.respond.steps.registry`), never from its name here.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.cases.model import Case
from shared.cases.policy.model import Playbook, PlaybookStep, Policy
from shared.core.errors import TokenwardenError
from shared.respond.facts import case_facts, user_target
from shared.respond.steps.base import PlanInputs, ResponseStep
from shared.respond.steps.registry import step_named

__all__ = ["PlannedStep", "plan_steps", "playbook_for"]


@dataclass(frozen=True, kw_only=True)
class PlannedStep:
    step: PlaybookStep
    target: str

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def kind(self) -> ResponseStep:
        """The registered step this playbook step names."""
        return step_named(self.step.name)


def playbook_for(case: Case, policy: Policy) -> Playbook:
    name = str((case.decision or {}).get("playbook") or "")
    if name not in policy.playbooks:
        raise TokenwardenError(f"case {case.case_id} has no triage decision naming a known playbook ({name!r})")
    return policy.playbooks[name]


def plan_steps(case: Case, policy: Policy, *, refresh_targets: list[str], run_id: str,
               incident: str | None) -> list[PlannedStep]:
    """Acting steps in playbook order, then reporting steps; a step with no target is left out.

    Reporting steps are keyed by *run_id* so each run adds its own comment and notification once,
    however often that run is retried; acting steps are keyed by their target only, so a later run
    never acts twice on the same user.
    """
    facts = case_facts(case)
    inputs = PlanInputs(user=user_target(case), refresh_targets=refresh_targets, run_id=run_id, incident=incident)
    acting: list[PlannedStep] = []
    reporting: list[PlannedStep] = []
    for step in playbook_for(case, policy).steps:
        if step.when is not None and not step.when.matches(facts):
            continue
        kind = step_named(step.name)
        (reporting if kind.reporting else acting).extend(
            PlannedStep(step=step, target=target) for target in kind.targets(case, inputs))
    return [*acting, *reporting]
