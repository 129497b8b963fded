"""``POST /cases/{id}/approve``: an approver releases the plan of a case waiting for approval.

Only a case in ``awaiting_approval`` can be approved; any other state answers 409 naming it (a case
already approved is ``responding`` or further, a finished one ``contained``, ``failed`` or ``closed``).
The case is not enriched again: the approver approves the plan that was shown. The response engine acts
for the approver (:func:`shared.jobs.respond.respond_to_cases` with ``approved_by``), still under the
guardrails: a protected principal stays refused, and a configured ``dry-run`` mode still changes nothing.
The run id is ``approve:<case>:<approver>``, so a retried approval adds no second incident comment.

The approval is recorded on the case's outbox mark (``WorkApprovedBy``, with the run id and the approver as
actor) before anything acts, as an intent is: if this invocation dies mid-response, or the response ends
``failed`` and is retried, the scan timer re-queues the case and the respond worker resumes the same approved
response (:class:`shared.cases.model.WorkRequest`), instead of leaving it in ``responding`` or planning it
again for a second approval.

The approver is verified (:mod:`shared.api.caller`): App Service authentication (Easy Auth) must be on, the
signed-in principal must hold the approver app role (``APPROVER_ROLE``), and a body naming someone else is refused.
A principal that requested the response (``POST /respond``) may not approve it. Every refusal is a 403 and an
audit line. Only ``INSECURE_LOCAL_APPROVALS`` (local runs) takes the body's approver as written.

One actor per case: the approval claims the case's lease (:mod:`shared.ledger.lease`) before it checks
the state, so of approvals racing on one case exactly one goes on; the others answer 202 ``in_progress``
with the case's status URL and write nothing, and an approval arriving after the winner finished finds
the case ``contained`` (409).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.api.caller import approver, refuse_self_approval
from shared.api.errors import ApiError
from shared.api.http import ApiCall, Reply, parse_body
from shared.api.models import ApproveRequest, ApproveResponse, CaseAccepted
from shared.core.safetext import caller_text

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.ledger.connection import Ledger

__all__ = ["approve", "in_progress_reply", "requesters"]

audit_log = logging.getLogger("tokenwarden.audit")


def approve(call: ApiCall, settings: Settings, *, now: datetime | None = None) -> ApproveResponse | Reply:
    """``POST /cases/{id}/approve``: 404 without the case, 202 while another invocation holds it, 409 unless
    it is ``awaiting_approval``."""
    from shared.api.cases import CASE_ID_PATTERN
    from shared.api.respond import case_response_model
    from shared.cases.model import WorkRequest
    from shared.jobs.respond import respond_to_cases
    from shared.ledger import connection
    from shared.ledger.case_store import CaseStore
    from shared.ledger.lease import CaseLease

    case_id = call.route_param("id")
    instant = now or datetime.now(UTC)
    request = parse_body(call.request, ApproveRequest)
    well_formed = bool(CASE_ID_PATTERN.fullmatch(case_id))
    approving = approver(call, settings, claimed=request.approver, case_id=case_id if well_formed else None)
    if not well_formed:
        raise ApiError(404, "not_found", "there is no such case (case ids look like case-usr-<hex>-1)")
    ledger = connection.open_ledger(settings)
    lease = CaseLease(ledger.cases, case_id, owner=call.invocation_id)
    try:
        if CaseStore(ledger.cases).get(case_id) is None:
            raise ApiError(404, "not_found", "there is no such case")
        claim = lease.claim()
        if not claim.held:
            return in_progress_reply(case_id, f"another invocation ({claim.holder}) is working on this case; "
                                              "nothing was done for this approval")
        case = CaseStore(ledger.cases).get(case_id)
        if case is None:
            raise ApiError(404, "not_found", "there is no such case")
        if case.state != "awaiting_approval":
            raise ApiError(409, "conflict", f"case {case_id} is {case.state}, not awaiting_approval; "
                                            "only a case awaiting approval can be approved")
        refuse_self_approval(call, approving, requesters(ledger, case_id), case_id=case_id)
        run_id = f"approve:{case_id}:{approving.name}"
        CaseStore(ledger.cases).want_work(case_id, WorkRequest(actor=approving.name, run=run_id,
                                                               approved_by=approving.name), now=instant)
        audit_log.info("approved %s", json.dumps({
            "case_id": case_id, "approved_by": caller_text(approving.name, limit=256),
            "approver_object_id": approving.object_id, "verified": approving.verified,
            "invocation_id": call.invocation_id, "comment": caller_text(request.comment or "", limit=1000)},
            ensure_ascii=True, separators=(",", ":")), extra={"case_id": case_id, "invocation_id": call.invocation_id})
        responses = respond_to_cases(settings, ledger, [case_id], invocation_id=call.invocation_id,
                                     run_id=run_id, now=instant, enrich=False, approved_by=approving.name,
                                     actor=approving.name)
    finally:
        lease.release()
        ledger.close()
    if responses and responses[0].in_progress:
        return in_progress_reply(case_id, responses[0].reason)
    if not responses:  # the case vanished between the check and the run
        raise ApiError(404, "not_found", "there is no such case")
    answer = case_response_model(responses[0])
    return ApproveResponse(**answer.model_dump(), approved_by=approving.name)


def requesters(ledger: Ledger, case_id: str) -> set[str]:
    """Every principal recorded as having requested a response on the case (names and object ids)."""
    from shared.api.respond import MANUAL_RULE_ID
    from shared.ledger.finding_store import FindingStore

    names: set[str] = set()
    for stored in FindingStore(ledger.findings).for_case(case_id):
        evidence = stored.evidence if isinstance(stored.evidence, dict) else {}
        if stored.rule_id != MANUAL_RULE_ID:
            continue
        listed = evidence.get("requesters")
        values = [*(listed if isinstance(listed, list) else []), evidence.get("requested_by"),
                  evidence.get("requested_by_id")]
        names |= {value for value in values if isinstance(value, str) and value and value != "api"}
    return names


def in_progress_reply(case_id: str, reason: str) -> Reply:
    """202: another invocation holds the case; the status URL shows what it does."""
    url = f"/api/cases/{case_id}"
    return Reply(body=CaseAccepted(case_id=case_id, state="in_progress", status_url=url, reason=reason),
                 status=202, headers={"Location": url})
