"""``POST /respond``: an operator's manual response on named users or apps, through the ordinary case path.

Each named user (object id or UPN) or app becomes one finding of the synthetic rule
:data:`MANUAL_RULE_ID`, recorded like any scan's (:func:`shared.ledger.recorder.record_findings`), so it
opens the principal's case or joins the one already open, marked as wanting work in the same write.

Long work leaves the request: the answer is 202 with each case's id and status URL (``GET /api/cases/{id}``)
as soon as the cases are recorded and one respond message per case is queued. The respond worker then
enriches, triages (the triage policy decides the playbook: a manual request does not pick one) and answers
each case (:func:`shared.respond.run.respond_to_cases`) under the usual guardrails, in the mode, for the
approver and under the run id this request decided, which the message carries. Graph faults no longer
hold the HTTP request open against the platform's 230-second limit.

Mode. The request can only narrow ``RESPONSE_MODE`` (:meth:`Guardrails.narrowed`): ``dry_run: true`` (the
default) runs as ``dry-run`` whatever the mode. The request is its own approval only when it says so
explicitly: ``mode: "auto"``, ``dry_run: false`` and an ``approver``, under a configured ``approval`` or
``auto`` mode. Then the engine acts for the named approver, as ``POST /cases/{id}/approve`` would, and an
approval is not counted against the blast radius, so such a request may name at most
``BLAST_RADIUS_PER_RUN`` principals. Otherwise approval mode leaves the cases ``awaiting_approval`` and
auto mode acts within the blast radius. Protected principals are refused in every mode.

The run id is derived from the request (principals, reason, mode, dry run), so a retried request adds no
second incident comment or notification.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.http import ApiCall, Reply, parse_body
from shared.api.models import CaseAccepted, CaseResponseModel, RespondRequest, RespondResponse, StepOutcomeModel

if TYPE_CHECKING:
    from shared.findings import Finding
    from shared.respond.engine import CaseResponse
    from shared.settings import Settings

__all__ = ["MANUAL_RULE_ID", "Enqueue", "accepted", "case_response_model", "manual_findings", "respond"]

Enqueue = Callable[[list[str]], None]
"""Hands respond messages to the queue output binding (``func.Out[list[str]].set``)."""

MANUAL_RULE_ID = "manual-response"
"""Rule id of the findings a manual request records. It is not a folder under ``shared/rules/``: case
building does not need one (as for ``app-reported-token-anomaly``), and the shipped triage policy names
no rule for it, so the policy's other rules (privileged or risky user) or its default decide."""
MANUAL_RULE_TITLE = "Manual response requested by an operator"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def manual_findings(request: RespondRequest, *, actor: str, now: datetime) -> list[Finding]:
    """One finding per named user and app; a GUID user is an object id, anything else a UPN."""
    from shared.findings import Finding

    evidence = {"requested_by": actor, "reason": request.reason}
    findings = []
    for user in dict.fromkeys(u.lower() for u in request.users):
        is_oid = bool(_GUID.fullmatch(user))
        findings.append(Finding(
            rule_id=MANUAL_RULE_ID, rule_title=MANUAL_RULE_TITLE, severity="High", first_seen=now, last_seen=now,
            count=1, user_upn=None if is_oid else user, user_object_id=user if is_oid else None, app_id=None,
            ip_address=None, key_id=None, token_id=None, issuer=None, tenant_id=None, source_table="api",
            evidence=evidence))
    for app in dict.fromkeys(a.lower() for a in request.apps):
        findings.append(Finding(
            rule_id=MANUAL_RULE_ID, rule_title=MANUAL_RULE_TITLE, severity="High", first_seen=now, last_seen=now,
            count=1, user_upn=None, user_object_id=None, app_id=app, ip_address=None, key_id=None, token_id=None,
            issuer=None, tenant_id=None, source_table="api", evidence=evidence))
    return findings


def _run_id(request: RespondRequest, mode: str) -> str:
    text = json.dumps([sorted({u.lower() for u in request.users}), sorted({a.lower() for a in request.apps}),
                       request.reason, mode, request.dry_run], separators=(",", ":"))
    return "respond:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def case_response_model(response: CaseResponse) -> CaseResponseModel:
    return CaseResponseModel.model_validate({
        "case_id": response.case_id, "state": response.state, "reason": response.reason,
        "outcomes": [StepOutcomeModel(step=o.step, target=o.target, phase=o.phase, detail=dict(o.detail))
                     for o in response.outcomes]})


def accepted(case_id: str, reason: str) -> CaseAccepted:
    return CaseAccepted(case_id=case_id, state="queued", status_url=f"/api/cases/{case_id}", reason=reason)


def respond(call: ApiCall, settings: Settings, enqueue: Enqueue, *, now: datetime | None = None) -> Reply:
    """``POST /respond``: record the cases, queue their work, answer 202; see the module docstring."""
    from shared.ledger import connection
    from shared.ledger.recorder import record_findings
    from shared.respond.guardrails import Guardrails
    from shared.respond.work_queue import WorkItem

    request = parse_body(call.request, RespondRequest)
    instant = now or datetime.now(UTC)
    rails = Guardrails.from_settings(settings).narrowed("dry-run" if request.dry_run else
                                                        request.mode or settings.response_mode)
    approved_by = request.approver if (request.mode == "auto" and not request.dry_run and request.approver
                                       and rails.mode != "dry-run") else None
    named = len(request.users) + len(request.apps)
    if approved_by is not None and named > settings.blast_radius_per_run:
        message = (f"an approved request may name at most BLAST_RADIUS_PER_RUN={settings.blast_radius_per_run} "
                   f"principals ({named} named); leave out the approver to let the blast radius decide")
        raise ApiError(422, "invalid_body", f"body.users: {message}", details=[{"loc": "body.users", "msg": message}])
    actor = request.approver or "api"
    run_id = _run_id(request, rails.mode)
    ledger = connection.open_ledger(settings)
    try:
        recorded = record_findings(ledger, manual_findings(request, actor=actor, now=instant), now=instant)
    finally:
        ledger.close()
    case_ids = list(dict.fromkeys(change.case_id for change in recorded.changes))
    enqueue([WorkItem(case_id=case_id, queued_at=instant, reason="respond", mode=rails.mode, approved_by=approved_by,
                      actor=actor, run=run_id).to_json() for case_id in case_ids])
    body = RespondResponse(dry_run=request.dry_run, mode=rails.mode, approved_by=approved_by, run_id=run_id,
                           cases=[accepted(case_id, f"queued for the respond worker ({rails.mode})")
                                  for case_id in case_ids])
    return Reply(body=body, status=202, headers={"Location": body.cases[0].status_url} if body.cases else {})
