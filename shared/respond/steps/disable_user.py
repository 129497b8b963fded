"""``disable_user``: block the user's sign-ins.

``PATCH /v1.0/users/{id}`` with ``{"accountEnabled": false}`` (permission ``User.EnableDisableAccount.All`` plus
``User.Read.All``). Graph refuses it for a user who holds an Entra role unless the caller holds a higher role
("Who can update sensitive properties" in ``api-reference/v1.0/api/user-update.md``,
microsoftgraph/microsoft-graph-docs-contrib), so such a user is left to an administrator.
"""

from __future__ import annotations

from typing import Any

from shared.core.errors import TokenwardenError
from shared.respond.facts import case_facts
from shared.respond.steps.base import Resume, StepCall, Unavailable
from shared.respond.steps.graph_user import GraphUserStep

__all__ = ["DisableUser"]


class DisableUser(GraphUserStep):
    name = "disable_user"
    needs_known_privilege = True

    def unavailable(self, call: StepCall) -> Unavailable | None:
        """Graph refuses to disable an administrator, whoever approved it: recorded as skipped, with the roles.

        user-update ("Who can update sensitive properties"): changing ``accountEnabled`` of a user who holds an
        Entra role needs the caller to hold a higher Entra role; an app permission alone is refused (403).
        """
        refused = super().unavailable(call)
        case = call.case
        if refused is not None or case is None:
            return refused
        roles = [role for user in (case.enrichment or {}).get("users") or [] for role in user.get("roles") or []]
        if roles or case_facts(case).privileged_user is True:
            names = ", ".join(sorted({str(r.get("display_name")) for r in roles})) or "a privileged role"
            return "skipped", (f"the user holds a directory role ({names}); Graph lets only a higher Entra role "
                               "disable it, which Tokenwarden is not given: left to an administrator")
        return None

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        """The user is read first, always: an account already disabled is not written again."""
        graph = self.graph(call)
        state = await graph.user_state(call.target)
        if not state.exists:
            raise TokenwardenError(f"user {call.target} does not exist")
        found: dict[str, Any] = {"accountEnabled": state.account_enabled}
        if state.account_enabled is False:
            return {"changed": False, "note": "already disabled; nothing written", "found": found}
        outcome = await graph.disable_user(call.target)
        return {"changed": True, **outcome.detail()}
