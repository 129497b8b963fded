"""``POST /respond``: an operator's manual response on named users or apps, through the ordinary case path.

Each named user (object id or UPN) or app becomes one finding of the synthetic rule
:data:`MANUAL_RULE_ID`, recorded like any scan's (:func:`shared.ledger.recorder.record_findings`), so it
opens the principal's case or joins the one already open, marked as wanting work in the same write.

Long work leaves the request: the answer is 202 with each case's id and status URL (``GET /api/cases/{id}``)
as soon as the cases are recorded and one respond message per case is queued. The respond worker then
enriches, triages (the triage policy decides the playbook: a manual request does not pick one) and answers
each case (:func:`shared.jobs.respond.respond_to_cases`) under the usual guardrails, in the mode, for the
approver and under the run id this request decided, which the message carries. Graph faults no longer
hold the HTTP request open against the platform's 230-second limit.

Mode. The request can only narrow ``RESPONSE_MODE`` (:meth:`Guardrails.narrowed`): ``dry_run: true`` (the
default) runs as ``dry-run`` whatever the mode. Approval mode leaves the cases ``awaiting_approval``; auto mode
acts within the blast radius. Protected principals are refused in every mode.

Who asks. Behind App Service authentication the requester is the signed-in caller (:func:`shared.api.caller.
requester`); otherwise the body's ``approver`` (unverified), or ``api``. The requester is recorded with each
finding (``requested_by``), and a principal may not approve a response it requested: a request that asks to be
its own approval (``mode: "auto"``, ``dry_run: false`` and an ``approver``) is refused with 403, and
``POST /cases/{id}/approve`` refuses the requester. Every refusal is audited.

The run id is derived from the request (principals, reason, mode, dry run), so a retried request adds no
second incident comment or notification.

Resume. Naming the user of a case that ended ``failed`` (and that the outbox stopped re-queueing after its failed
passes, :data:`shared.cases.model.WORK_ATTEMPTS`) queues that open case again with a fresh outbox mark and retry
budget; steps already done are not redone.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.api.caller import refuse, requester
from shared.api.http import ApiCall, Reply, parse_body
from shared.api.models import CaseAccepted, CaseResponseModel, RespondRequest, RespondResponse, StepOutcomeModel

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.detect.findings import Finding
    from shared.ledger.connection import Ledger
    from shared.respond.engine import CaseResponse

__all__ = ["MANUAL_RULE_ID", "Enqueue", "accepted", "case_response_model", "keep_earlier_requesters", "manual_findings",
           "respond"]

Enqueue = Callable[[list[str]], None]
"""Hands respond messages to the queue output binding (``func.Out[list[str]].set``)."""

MANUAL_RULE_ID = "manual-response"
"""Rule id of the findings a manual request records. It is not a folder under ``shared/rules/``: case
building does not need one (as for ``app-reported-token-anomaly``), and the shipped triage policy names
no rule for it, so the policy's other rules (privileged or risky user) or its default decide."""
MANUAL_RULE_TITLE = "Manual response requested by an operator"
MAX_REQUESTERS = 50
"""Askers a manual finding remembers; more is no real case, and the ledger's evidence stays small."""
_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def manual_findings(request: RespondRequest, *, actor: str, now: datetime,
                    actor_id: str | None = None) -> list[Finding]:
    """One finding per named user and app; a GUID user is an object id, anything else a UPN."""
    from shared.detect.findings import Finding

    evidence = {"requested_by": actor, "reason": request.reason}
    if actor_id:
        evidence["requested_by_id"] = actor_id
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


def keep_earlier_requesters(ledger: Ledger, findings: list[Finding]) -> list[Finding]:
    """*findings* with ``requesters``: everyone who asked for a response on the same principal, earlier askers
    included. A re-sighted finding's evidence replaces the stored one, so without this a later request (even an
    unsigned one, recorded as ``api``) would erase who asked first, and the first asker could approve."""
    import dataclasses

    from shared.cases.principal import finding_identity
    from shared.ledger.finding_store import FindingStore

    store = FindingStore(ledger.findings)
    kept = []
    for finding in findings:
        identity = finding_identity(finding)
        stored = store.get(identity.rule_id, identity.row_key)
        earlier = stored.evidence.get("requesters") if stored is not None and isinstance(stored.evidence, dict) \
            else None
        names = [str(name) for name in earlier] if isinstance(earlier, list) else []
        names += [str(finding.evidence.get(key)) for key in ("requested_by", "requested_by_id")
                  if finding.evidence.get(key)]
        requesters = sorted({name.lower() for name in names if name and name != "api"})[:MAX_REQUESTERS]
        kept.append(dataclasses.replace(finding, evidence={**finding.evidence, "requesters": requesters}))
    return kept


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
    from shared.cases.model import WorkRequest
    from shared.ledger import connection
    from shared.ledger.case_store import CaseStore
    from shared.ledger.recorder import record_findings
    from shared.respond.guardrails import Guardrails
    from shared.respond.work_queue import WorkItem

    request = parse_body(call.request, RespondRequest)
    instant = now or datetime.now(UTC)
    rails = Guardrails.from_settings(settings).narrowed("dry-run" if request.dry_run else
                                                        request.mode or settings.response_mode)
    asker = requester(call, settings, claimed=request.approver)
    if request.mode == "auto" and not request.dry_run and request.approver and rails.mode != "dry-run":
        refuse(call, "self_approval", "a request cannot be its own approval: a principal may not approve a response "
               "it requested; leave out the approver, and have another approver POST /cases/{id}/approve",
               action="respond", claimed=request.approver, caller=asker if asker.verified else None)
    actor = asker.name
    run_id = _run_id(request, rails.mode)
    ledger = connection.open_ledger(settings)
    try:
        findings = keep_earlier_requesters(ledger, manual_findings(request, actor=actor, actor_id=asker.object_id,
                                                                   now=instant))
        # The mark keeps what this request asked, so a re-queue (lost message, dead worker) runs it the same way.
        work = WorkRequest(mode=rails.mode, actor=actor, run=run_id)
        recorded = record_findings(ledger, findings, now=instant, work=work)
        # A case this request added nothing to (its user named again: an operator resuming a case that failed
        # and that the outbox gave up on) gets a fresh mark too, so its work survives a lost message as well.
        store = CaseStore(ledger.cases)
        for change in recorded.changes:
            if not change.needs_work:
                store.want_work(change.case_id, work, now=instant)
    finally:
        ledger.close()
    case_ids = list(dict.fromkeys(change.case_id for change in recorded.changes))
    # A request is never its own approval (the approver is verified on POST /cases/{id}/approve).
    enqueue([WorkItem(case_id=case_id, queued_at=instant, reason="respond", mode=rails.mode, approved_by=None,
                      actor=actor, run=run_id).to_json() for case_id in case_ids])
    body = RespondResponse(dry_run=request.dry_run, mode=rails.mode, approved_by=None, run_id=run_id,
                           cases=[accepted(case_id, f"queued for the respond worker ({rails.mode})")
                                  for case_id in case_ids])
    return Reply(body=body, status=202, headers={"Location": body.cases[0].status_url} if body.cases else {})
