"""What a playbook means for one case: the steps whose conditions hold, each with the target it acts on.

Kept apart from the engine so the plan an approver is shown and the plan the
engine executes are computed by the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.cases.enrich.models import combined_privilege
from shared.cases.model import Case
from shared.cases.policy.model import Playbook, PlaybookStep, Policy, TriageInput
from shared.core.errors import TokenwardenError

__all__ = [
    "ACTING_STEPS",
    "GRAPH_USER_STEPS",
    "REPORTING_STEPS",
    "PlannedStep",
    "case_facts",
    "identifiers",
    "plan_steps",
    "playbook_for",
    "untrusted_key_ids",
    "user_target",
]

GRAPH_USER_STEPS = ("revoke_sessions", "disable_user", "confirm_compromised")
REPORTING_STEPS = ("sentinel_incident", "notify")
"""Steps that report rather than act: they run after the acting steps, so they can say what was done."""
ACTING_STEPS = (*GRAPH_USER_STEPS, "refresh_app_key_cache")


@dataclass(frozen=True, kw_only=True)
class PlannedStep:
    step: PlaybookStep
    target: str

    @property
    def name(self) -> str:
        return self.step.name


def user_target(case: Case) -> str | None:
    """The user object id the Graph steps act on: from enrichment, else the case's own principal."""
    users = (case.enrichment or {}).get("users") or []
    for user in users:
        if user.get("status") == "ok" and user.get("id"):
            return str(user["id"])
    return case.principal.value if case.principal.kind == "user" else None


def identifiers(case: Case) -> list[str | None]:
    """Every name the case's principal goes by, for the protected-principal check."""
    users = (case.enrichment or {}).get("users") or []
    return [case.principal.value, *case.user_upns, *(u.get("id") for u in users),
            *(u.get("user_principal_name") for u in users)]


def app_ids(case: Case) -> list[str]:
    """The apps that accepted the case's tokens, as enrichment looked them up."""
    apps = (case.enrichment or {}).get("apps") or []
    return sorted({str(a["app_id"]) for a in apps if a.get("app_id")})


def untrusted_key_ids(case: Case) -> list[str]:
    """Key ids in the case that no watched issuer publishes, or that are on the compromised list."""
    keys = (case.enrichment or {}).get("keys") or []
    return sorted({str(k["key_id"]) for k in keys
                   if k.get("key_id") and (k.get("compromised") or not k.get("published_by"))})


def case_facts(case: Case) -> TriageInput:
    enrichment = case.enrichment or {}
    users = enrichment.get("users") or []
    privileged = combined_privilege(u.get("privileged") for u in users if u.get("status") != "not_found")
    return TriageInput(rule_ids=frozenset(case.rule_ids), finding_count=len(case.finding_refs),
                       privileged_user=privileged,
                       risk_level=next((u.get("risk_level") for u in users if u.get("risk_level")), None))


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
    target = user_target(case)
    acting: list[PlannedStep] = []
    reporting: list[PlannedStep] = []
    for step in playbook_for(case, policy).steps:
        if step.when is not None and not step.when.matches(facts):
            continue
        if step.name in GRAPH_USER_STEPS:
            if target:
                acting.append(PlannedStep(step=step, target=target))
        elif step.name == "refresh_app_key_cache":
            acting.extend(PlannedStep(step=step, target=t) for t in refresh_targets)
        elif step.name == "sentinel_incident":
            reporting.append(PlannedStep(step=step, target=f"incident:{incident or 'own'}/run:{run_id}"))
        elif step.name == "notify":
            reporting.append(PlannedStep(step=step, target=f"webhook/run:{run_id}"))
    return [*acting, *reporting]
