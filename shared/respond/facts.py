"""What the response reads off a case: whom it acts on, by which names, through which apps and keys.

The plan, the guardrails' protected-principal check and the steps read a case through these functions, so
they all agree on who "the user" of a case is.
"""

from __future__ import annotations

from shared.cases.enrich.models import combined_privilege
from shared.cases.model import Case
from shared.cases.policy.model import TriageInput

__all__ = ["app_ids", "case_facts", "identifiers", "untrusted_key_ids", "user_target"]


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
