"""Tokenwarden's own revocations, as the ``containment-breached`` rule takes them: one entry per user whose case it
contained, with when the revocation (or disable) succeeded.

The rule also reads every revocation that ``AuditLogs`` records, Tokenwarden's included; this feed keeps the check
working where the Entra audit log is not connected, and names the case a breach belongs to. Each entry is the text
``<user object id>|<ISO 8601 UTC time>|<case id>``, bound as a ``dynamic`` array of string literals
(:mod:`shared.detect.kql.literals`): ids from the ledger never become query text.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.detect.hunt import HuntContext
    from shared.ledger.connection import Ledger

__all__ = ["CONTAINING_STEPS", "OWN_REVOCATIONS_PARAMETER", "REVOCATION_HORIZON", "own_revocations",
           "with_own_revocations"]

CONTAINING_STEPS = ("revoke_sessions", "disable_user")
"""The steps after which no token issued earlier should be accepted any more."""
OWN_REVOCATIONS_PARAMETER = "contained_principals"
REVOCATION_HORIZON = timedelta(days=3)
"""How far back revocations are fed: longer than the rule's reach (ingestion delay plus the 28-hour token life)."""
_WATCHED_STATES = ("contained", "containment_breached")


def own_revocations(ledger: Ledger, *, now: datetime, horizon: timedelta = REVOCATION_HORIZON) -> list[str]:
    """Entries for every contained (or already breached) user case whose containing step succeeded since
    ``now - horizon``; a case that is closed is no longer watched."""
    from shared.ledger.case_store import CaseStore
    from shared.respond.actions import ActionStore

    actions = ActionStore(ledger.actions)
    entries: set[str] = set()
    for case in CaseStore(ledger.cases).cases(open_only=True):
        if case.state not in _WATCHED_STATES or case.principal.kind != "user":
            continue
        for record in actions.for_case(case.case_id):
            if record.step in CONTAINING_STEPS and record.phase == "succeeded" and record.updated_at >= now - horizon:
                at = record.updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
                entries.add(f"{case.principal.value}|{at}|{case.case_id}")
    return sorted(entries)


def with_own_revocations(context: HuntContext, ledger: Ledger, *, now: datetime) -> HuntContext:
    """*context* with the ledger's revocations bound, unless an operator override already supplies them."""
    if OWN_REVOCATIONS_PARAMETER in context.overrides:
        return context
    overrides = {**context.overrides, OWN_REVOCATIONS_PARAMETER: own_revocations(ledger, now=now)}
    return replace(context, overrides=overrides)
