"""``POST /cases/{id}/approve``: an approver releases the plan of a case waiting for approval.

Only a case in ``awaiting_approval`` can be approved; any other state answers 409 naming it (a case
already approved is ``responding`` or further, a finished one ``contained``, ``failed`` or ``closed``).
The case is not enriched again: the approver approves the plan that was shown. The response engine acts
for the approver (:func:`shared.respond.run.respond_to_cases` with ``approved_by``), still under the
guardrails: a protected principal stays refused, and a configured ``dry-run`` mode still changes nothing.
The run id is ``approve:<case>:<approver>``, so a retried approval adds no second incident comment.

Behind App Service authentication (Easy Auth) the approver is the signed-in caller: the platform strips
any ``X-MS-CLIENT-PRINCIPAL-NAME`` a client sends and sets its own, so when the header is present it is the
approver recorded, and a body naming someone else is refused (403) rather than silently rewritten. Without
Easy Auth (function keys only) the body's approver is recorded as written; docs/api.md says so.

One actor per case: the approval claims the case's lease (:mod:`shared.ledger.lease`) before it checks
the state, so of approvals racing on one case exactly one goes on; the others answer 202 ``in_progress``
with the case's status URL and write nothing, and an approval arriving after the winner finished finds
the case ``contained`` (409).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.http import ApiCall, Reply, parse_body
from shared.api.models import ApproveRequest, ApproveResponse, CaseAccepted

if TYPE_CHECKING:
    from shared.settings import Settings

__all__ = ["approve", "in_progress_reply"]

audit_log = logging.getLogger("tokenwarden.audit")


def approve(call: ApiCall, settings: Settings, *, now: datetime | None = None) -> ApproveResponse | Reply:
    """``POST /cases/{id}/approve``: 404 without the case, 202 while another invocation holds it, 409 unless
    it is ``awaiting_approval``."""
    from shared.api.cases import CASE_ID_PATTERN
    from shared.api.respond import case_response_model
    from shared.ledger import connection
    from shared.ledger.case_store import CaseStore
    from shared.ledger.lease import CaseLease
    from shared.respond.run import respond_to_cases

    case_id = call.route_param("id")
    shown = case_id[:80]
    request = parse_body(call.request, ApproveRequest)
    signed_in = (call.request.headers.get("x-ms-client-principal-name") or "").strip()
    if signed_in:
        if request.approver.strip().lower() != signed_in.lower():
            raise ApiError(403, "approver_mismatch", "the approver must be the signed-in caller "
                                                     f"({signed_in[:120]}), not {request.approver[:120]!r}")
        request = request.model_copy(update={"approver": signed_in})
    if not CASE_ID_PATTERN.fullmatch(case_id):
        raise ApiError(404, "not_found", f"there is no case {shown!r} (case ids look like case-usr-<hex>-1)")
    ledger = connection.open_ledger(settings)
    lease = CaseLease(ledger.cases, case_id, owner=call.invocation_id)
    try:
        if CaseStore(ledger.cases).get(case_id) is None:
            raise ApiError(404, "not_found", f"there is no case {shown!r}")
        claim = lease.claim()
        if not claim.held:
            return in_progress_reply(case_id, f"another invocation ({claim.holder}) is working on this case; "
                                              "nothing was done for this approval")
        case = CaseStore(ledger.cases).get(case_id)
        if case is None:
            raise ApiError(404, "not_found", f"there is no case {shown!r}")
        if case.state != "awaiting_approval":
            raise ApiError(409, "conflict", f"case {case_id} is {case.state}, not awaiting_approval; "
                                            "only a case awaiting approval can be approved")
        audit_log.info("case %s approved by %s (invocation %s): %s", case_id, request.approver,
                       call.invocation_id, request.comment or "no comment")
        responses = respond_to_cases(settings, ledger, [case_id], invocation_id=call.invocation_id,
                                     run_id=f"approve:{case_id}:{request.approver}", now=now or datetime.now(UTC),
                                     enrich=False, approved_by=request.approver, actor=request.approver)
    finally:
        lease.release()
        ledger.close()
    if responses and responses[0].in_progress:
        return in_progress_reply(case_id, responses[0].reason)
    if not responses:  # the case vanished between the check and the run
        raise ApiError(404, "not_found", f"there is no case {shown!r}")
    answer = case_response_model(responses[0])
    return ApproveResponse(**answer.model_dump(), approved_by=request.approver)


def in_progress_reply(case_id: str, reason: str) -> Reply:
    """202: another invocation holds the case; the status URL shows what it does."""
    url = f"/api/cases/{case_id}"
    return Reply(body=CaseAccepted(case_id=case_id, state="in_progress", status_url=url, reason=reason),
                 status=202, headers={"Location": url})
