"""``POST /sentinel/incident``: a Sentinel automation rule hands Tokenwarden an incident (through a Logic App).

Each account entity (resolved by its Entra object id before its UPN) becomes a
case linked to *that* incident, so the comment and any update go back to it
rather than to a new incident. The answer is 202 as soon as the cases are
recorded and one respond message per case is queued; the respond worker then
enriches each case and runs its playbook under the configured mode, so Graph
faults never hold the Logic App's HTTP call open. A Logic App retry sends the
same body again: the finding is keyed by incident and account, and the run (the
message carries it) by incident and event, so a retry adds no finding, action,
incident or comment: at most a second message for the same run, which the
case's lease and the deterministic action ids make a no-op.
"""

from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime
from typing import Any, cast

from shared.api.errors import ApiError
from shared.api.http import ApiCall, Reply, read_json
from shared.api.models import SentinelIncidentResponse
from shared.api.respond import Enqueue
from shared.core.settings import Settings
from shared.detect.ruleset import Severity

__all__ = ["SYNTHETIC_RULE_ID", "accept_incident"]

SYNTHETIC_RULE_ID = "sentinel-incident"
"""The rule id of findings that stand for an incident's account entity; no KQL rule has it."""


def _event_key(raw: Any) -> str:
    """The trigger event's identity: ``eventUniqueId`` when Sentinel sent one, else the incident's etag."""
    document = raw.get("body", raw) if isinstance(raw, dict) and "object" not in raw else raw
    if not isinstance(document, dict):
        return ""
    obj = document.get("object")
    event = document.get("eventUniqueId") or (obj.get("etag") if isinstance(obj, dict) else None) or ""
    return hashlib.sha256(str(event).encode("utf-8")).hexdigest()[:16]


def accept_incident(call: ApiCall, settings: Settings, enqueue: Enqueue, *, now: datetime | None = None) -> Reply:
    from shared.intake.sentinel_incident import TriggerError, parse_incident_trigger

    now = now or datetime.now(UTC)
    raw = read_json(call.request)
    try:
        trigger = parse_incident_trigger(raw)
        if not trigger.accounts:
            raise TriggerError("the incident has no account entity; Tokenwarden acts on accounts only",
                               status=422, incident_id=trigger.incident_id)
    except TriggerError as exc:
        if exc.status == 422 and exc.incident_id:
            _explain(settings, exc.incident_id, str(exc), call.invocation_id)
        raise ApiError(exc.status, "not_actionable" if exc.status == 422 else "bad_trigger", str(exc)) from None
    workspace = settings.sentinel_workspace_resource_id.lower()
    if workspace and not trigger.incident_id.lower().startswith(workspace + "/"):
        raise ApiError(422, "other_workspace", "the incident belongs to another workspace than "
                                               "SENTINEL_WORKSPACE_RESOURCE_ID; Tokenwarden writes only to its own")
    return _record(settings, trigger, enqueue, run_id=f"sentinel:{trigger.incident_name}:{_event_key(raw)}", now=now)


def _record(settings: Settings, trigger: Any, enqueue: Enqueue, *, run_id: str, now: datetime) -> Reply:
    from shared.cases.model import WorkRequest
    from shared.detect.findings import Finding
    from shared.ledger.case_store import CaseStore
    from shared.ledger.connection import open_ledger
    from shared.ledger.recorder import record_findings
    from shared.respond.work_queue import WorkItem

    severity = cast(Severity, trigger.severity if trigger.severity in ("High", "Medium", "Low", "Informational")
                    else "Medium")
    findings = [
        Finding(rule_id=SYNTHETIC_RULE_ID, rule_title=f"Sentinel incident {trigger.incident_number or ''}".strip(),
                severity=severity, first_seen=now, last_seen=now, count=1, user_upn=account.upn,
                user_object_id=account.aad_user_id, app_id=None,
                ip_address=trigger.ips[0] if trigger.ips else None, key_id=None,
                token_id=f"{trigger.incident_name}:{account.key}", issuer=None, tenant_id=None,
                source_table="SecurityIncident",
                evidence={"incident": trigger.incident_id, "title": trigger.title[:256],
                          "ips": list(trigger.ips[:20])})
        for account in trigger.accounts
    ]
    ledger = open_ledger(settings)
    try:
        recorded = record_findings(ledger, findings, now=now, work=WorkRequest(run=run_id))
        store = CaseStore(ledger.cases)
        case_ids = [change.case_id for change in recorded.changes]
        for case_id in case_ids:
            store.link_incident(case_id, trigger.incident_name, at=now)
    finally:
        ledger.close()
    enqueue([WorkItem(case_id=case_id, queued_at=now, reason="sentinel", run=run_id).to_json()
             for case_id in case_ids])
    urls = [f"/api/cases/{case_id}" for case_id in case_ids]
    body = SentinelIncidentResponse(accepted=True, case_ids=case_ids, status_urls=urls,
                                    detail=f"{len(case_ids)} case(s) queued for the respond worker")
    return Reply(body=body, status=202, headers={"Location": urls[0]} if urls else {})


def _explain(settings: Settings, incident_id: str, why: str, invocation_id: str) -> None:
    """Say on the incident why nothing was done, so an automation run that did nothing is not silent."""
    import asyncio

    if not settings.sentinel_workspace_resource_id:
        return
    name = incident_id.rstrip("/").rsplit("/", 1)[-1]

    async def comment() -> None:
        from shared.core.credentials import credential_for
        from shared.respond.steps.sentinel import SentinelIncidents
        from shared.respond.transport.arm_client import ArmClient

        async with ArmClient(credential_for(settings), endpoint=settings.arm_endpoint,
                             scope=settings.cloud.arm_scope) as arm:
            incidents = SentinelIncidents(arm, settings.sentinel_workspace_resource_id)
            text = f"<p><b>Tokenwarden took no action on this incident.</b></p><p>{html.escape(why)}</p>"
            await incidents.add_comment(name, incidents.comment_id_for(name, "not-actionable"), text)

    try:
        asyncio.run(comment())
    except Exception as exc:  # the 422 is the answer; a failed comment must not turn it into a 5xx
        import logging

        logging.getLogger("tokenwarden.api").warning("could not comment on incident %s: %s (invocation %s)",
                                                     name, exc, invocation_id)
