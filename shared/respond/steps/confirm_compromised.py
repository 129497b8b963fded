"""``confirm_compromised``: mark the user compromised in Entra ID Protection (risk level high).

``POST /v1.0/identityProtection/riskyUsers/confirmCompromised`` with ``{"userIds": [...]}`` (permission
``IdentityRiskyUser.ReadWrite.All``, Entra ID P2). Source: ``api-reference/v1.0/api/riskyuser-confirmcompromised.md``
in microsoftgraph/microsoft-graph-docs-contrib. A run's asks are folded into calls of up to sixty users by
:class:`~shared.respond.steps.confirm_batcher.ConfirmBatcher`.
"""

from __future__ import annotations

from typing import Any

from shared.respond.steps.base import Resume, StepCall
from shared.respond.steps.graph_user import GraphUserStep
from shared.respond.transport.graph_actions import CONFIRMED_COMPROMISED

__all__ = ["ConfirmCompromised"]


class ConfirmCompromised(GraphUserStep):
    name = "confirm_compromised"

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        """After an interrupted run, a user already confirmed compromised is not confirmed again."""
        assert call.tools.batcher is not None  # there is a batcher wherever there is a Graph client
        if resume.resumed:
            risk = await self.graph(call).risk_state(call.target)
            if risk == CONFIRMED_COMPROMISED:
                return {"changed": False, "note": "already confirmed compromised by the interrupted run",
                        "found": {"riskState": risk}}
        result = await call.tools.batcher.confirm(call.target)
        return {"changed": True, "batch_size": result.batch_size, "call": result.call, **result.outcome.detail()}
