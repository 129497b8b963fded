"""What the two reporting steps (``sentinel_incident``, ``notify``) share.

They run after the acting steps and say what those did, so they read the case as it is *now* (moved by the
acting steps) and they record their intent as the plan alone: a report is keyed by its run, and re-sending
it is safe (the incident comment and the webhook's idempotency key are the same on every retry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.cases.model import Case
from shared.ledger.case_store import CaseStore
from shared.ledger.pool import in_ledger_thread
from shared.respond.steps.base import ReportInput, ResponseStep, Resume, StepCall

__all__ = ["ReportingStep"]


class ReportingStep(ResponseStep):
    reporting = True

    def intent_detail(self, plan: Mapping[str, Any], resume: Resume) -> dict[str, Any]:
        return dict(plan)

    @staticmethod
    def report(call: StepCall) -> ReportInput:
        assert call.report is not None, "a reporting step runs with the run's report"
        return call.report

    async def current_case(self, call: StepCall) -> Case:
        """The case as the acting steps left it (the ledger's), else the one the run started from."""
        stored = await in_ledger_thread(CaseStore(self.report(call).ledger.cases).get, call.case_id)
        found = stored or call.case
        assert found is not None
        return found
