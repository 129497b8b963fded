"""What the three Microsoft Graph steps on a user share: their target and the Graph client they need.

``revoke_sessions``, ``confirm_compromised`` and ``disable_user`` each act on the case's user, by object id
(:func:`shared.respond.plan.user_target`); a case with no resolvable user leaves them out of its plan. Each
re-reads the user before it writes again after an interrupted run (see each step's :meth:`act`).
"""

from __future__ import annotations

from shared.cases.model import Case
from shared.respond.steps.base import PlanInputs, ResponseStep, StepCall, Unavailable
from shared.respond.transport.graph_actions import GraphActions

__all__ = ["GraphUserStep"]


class GraphUserStep(ResponseStep):
    """A Graph write on the case's user."""

    def targets(self, case: Case, inputs: PlanInputs) -> list[str]:
        return [inputs.user] if inputs.user else []

    def unavailable(self, call: StepCall) -> Unavailable | None:
        if call.tools.graph is None:
            return "failed", "Microsoft Graph is not configured"
        return None

    @staticmethod
    def graph(call: StepCall) -> GraphActions:
        """The Graph client; :meth:`unavailable` has already refused the step when there is none."""
        assert call.tools.graph is not None
        return call.tools.graph
