"""``revoke_sessions``: invalidate the user's refresh tokens and session cookies.

``POST /v1.0/users/{id}/revokeSignInSessions`` (permission ``User.RevokeSessions.All``) resets the user's
``signInSessionsValidFromDateTime``; access tokens already issued live until they expire. Source: Microsoft
Graph v1.0 reference, ``api-reference/v1.0/api/user-revokesigninsessions.md`` in
microsoftgraph/microsoft-graph-docs-contrib (the call itself is :meth:`GraphActions.revoke_sessions`).
"""

from __future__ import annotations

from typing import Any

from shared.respond.steps.base import Resume, StepCall
from shared.respond.steps.graph_user import GraphUserStep

__all__ = ["RevokeSessions"]


class RevokeSessions(GraphUserStep):
    name = "revoke_sessions"

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        """After an interrupted run, sessions revoked since its intent are not revoked again."""
        graph = self.graph(call)
        if resume.resumed:
            revoked, found = await graph.sessions_revoked_since(call.target, resume.since)
            if revoked:
                return {"changed": False, "note": "sessions already revoked by the interrupted run", "found": found}
        outcome = await graph.revoke_sessions(call.target)
        return {"changed": True, **outcome.detail()}
