"""``sentinel_incident``: open or update the case's Microsoft Sentinel incident and comment on this run.

The mechanism (incident PUT with etag, comment PUT under a deterministic id) is
:class:`~shared.respond.steps.sentinel.SentinelIncidents`; this step decides which incident (the case's own,
or the one a Sentinel automation rule handed in) and what the comment reports.
"""

from __future__ import annotations

from typing import Any

from shared.cases.model import Case
from shared.ledger.finding_store import FindingStore
from shared.ledger.pool import in_ledger_thread
from shared.respond.steps.base import PlanInputs, Resume, StepCall, Unavailable
from shared.respond.steps.reporting import ReportingStep

__all__ = ["SentinelIncident"]


class SentinelIncident(ReportingStep):
    name = "sentinel_incident"

    def targets(self, case: Case, inputs: PlanInputs) -> list[str]:
        """One comment per run on the incident, however often the run is retried."""
        return [f"incident:{inputs.incident or 'own'}/run:{inputs.run_id}"]

    def unavailable(self, call: StepCall) -> Unavailable | None:
        return None if call.tools.incidents is not None else ("skipped", "SENTINEL_WORKSPACE_RESOURCE_ID is not set")

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        incidents, report = call.tools.incidents, self.report(call)
        assert incidents is not None
        case = await self.current_case(call)
        stored = await in_ledger_thread(FindingStore(report.ledger.findings).for_case, case.case_id)
        return await incidents.record_run(case, run_id=report.run_id, findings=[f.to_finding() for f in stored],
                                          outcomes=report.acted, reason=report.reason,
                                          incident_name=case.sentinel_incident)
