"""``GET /cases`` and ``GET /cases/{id}``: the ledger's cases for analysts, read-only.

The list reads only the summary columns of the ``case`` partition (not enrichment, transitions or
finding references), filtered by state and severity in the query, and pages most-recently-updated
first with a keyset cursor, so a page boundary does not shift when other cases change. The detail adds
the findings (Findings table, by case), the enrichment and decision stored by triage, the playbook the
decision names (from the triage policy) and the action log (Actions table).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.api.errors import ApiError
from shared.api.http import ApiCall, parse_query
from shared.api.models import (
    ActionModel,
    CaseDetail,
    CaseListQuery,
    CaseListResponse,
    CaseSummary,
    FindingModel,
    OutboxModel,
    PlanModel,
    PlanStep,
    PrincipalModel,
    TransitionModel,
)
from shared.core.errors import TokenwardenError

if TYPE_CHECKING:
    from shared.cases.model import Case
    from shared.core.settings import Settings
    from shared.ledger.connection import Ledger

__all__ = ["CASE_ID_PATTERN", "MAX_CASE_FINDINGS", "case_detail", "get_case", "list_cases"]

CASE_ID_PATTERN = re.compile(r"case-[a-z]{3}-[0-9a-f]{20}-[1-9][0-9]{0,8}")
MAX_CASE_FINDINGS = 200
"""Findings a case detail holds, most recent first; ``findings_truncated`` says when there are more."""
_SUMMARY_COLUMNS = ["RowKey", "PrincipalKind", "PrincipalValue", "Generation", "State", "Severity", "FirstSeen",
                    "LastSeen", "CreatedAt", "UpdatedAt", "RuleIds", "FindingCount", "MoreFindings", "UserUpns"]
log = logging.getLogger("tokenwarden.api")


def _open(settings: Settings) -> Ledger:
    from shared.ledger import connection

    return connection.open_ledger(settings)


# -- the list -----------------------------------------------------------------------------------------


def _strings(value: object) -> list[str]:
    from shared.ledger.codec import load_json

    loaded = load_json(value, "list")
    return [str(v) for v in loaded] if isinstance(loaded, list) else []


def _summary(entity: Mapping[str, Any]) -> CaseSummary:
    from shared.ledger.codec import parse_time

    return CaseSummary(
        case_id=str(entity["RowKey"]), state=entity["State"], severity=entity["Severity"],
        principal=PrincipalModel(kind=str(entity["PrincipalKind"]), value=str(entity["PrincipalValue"])),
        generation=int(entity["Generation"]),
        first_seen=parse_time(entity["FirstSeen"], "FirstSeen"), last_seen=parse_time(entity["LastSeen"], "LastSeen"),
        created_at=parse_time(entity["CreatedAt"], "CreatedAt"),
        updated_at=parse_time(entity["UpdatedAt"], "UpdatedAt"),
        rule_ids=_strings(entity.get("RuleIds")), finding_count=int(entity.get("FindingCount") or 0),
        more_findings=bool(entity.get("MoreFindings", False)), user_upns=_strings(entity.get("UserUpns")),
    )


def _encode_cursor(case: CaseSummary) -> str:
    raw = json.dumps([case.updated_at.isoformat(), case.case_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        updated, case_id = json.loads(raw)
        at = datetime.fromisoformat(updated)
        if at.tzinfo is None or not isinstance(case_id, str):
            raise ValueError("not a cursor")
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise ApiError(422, "invalid_query", "query.cursor: not a cursor this API returned",
                       details=[{"loc": "query.cursor", "msg": "not a cursor this API returned"}]) from None
    return at, case_id


def query_cases(ledger: Ledger, query: CaseListQuery) -> CaseListResponse:
    """One page of case summaries from *ledger*, newest update first."""
    conditions, parameters = ["PartitionKey eq @pk"], {"pk": "case"}
    if query.state:
        conditions.append("State eq @state")
        parameters["state"] = query.state
    if query.severity:
        conditions.append("Severity eq @severity")
        parameters["severity"] = query.severity
    entities = ledger.cases.query_entities(" and ".join(conditions), parameters=parameters, select=_SUMMARY_COLUMNS)
    summaries = [_summary(entity) for entity in entities]
    summaries.sort(key=lambda c: c.case_id)
    summaries.sort(key=lambda c: c.updated_at, reverse=True)
    if query.cursor:
        after_at, after_id = _decode_cursor(query.cursor)
        summaries = [c for c in summaries
                     if c.updated_at < after_at or (c.updated_at == after_at and c.case_id > after_id)]
    page = summaries[: query.limit]
    more = len(summaries) > query.limit
    return CaseListResponse(cases=page, next_cursor=_encode_cursor(page[-1]) if more and page else None)


def list_cases(call: ApiCall, settings: Settings) -> CaseListResponse:
    """``GET /cases?state=&severity=&limit=&cursor=``."""
    query = parse_query(call.request, CaseListQuery)
    ledger = _open(settings)
    try:
        return query_cases(ledger, query)
    finally:
        ledger.close()


# -- one case -----------------------------------------------------------------------------------------


def _plan(case: Case, settings: Settings) -> PlanModel | None:
    name = str((case.decision or {}).get("playbook") or "")
    if not name:
        return None
    from shared.cases.policy.loader import load_policy

    try:
        policy = load_policy(Path(settings.triage_policy_file) if settings.triage_policy_file else None)
    except TokenwardenError as exc:
        log.warning("case %s: the triage policy could not be read for its plan: %s", case.case_id, exc)
        return PlanModel(playbook=name, description="the triage policy could not be read", steps=[])
    playbook = policy.playbooks.get(name)
    if playbook is None:
        return PlanModel(playbook=name, description="the triage policy no longer defines this playbook", steps=[])
    return PlanModel(playbook=name, description=playbook.description,
                     steps=[PlanStep(step=step.name, conditional=step.when is not None) for step in playbook.steps])


def case_detail(ledger: Ledger, case_id: str, settings: Settings) -> CaseDetail:
    """The case with its findings, enrichment, decision, plan, action log and outbox; 404 if there is none."""
    from shared.cases.model import WORK_ATTEMPTS
    from shared.ledger.case_store import CaseStore
    from shared.ledger.finding_store import FindingStore
    from shared.respond.actions import ActionStore

    if not CASE_ID_PATTERN.fullmatch(case_id):  # the answer never echoes what was sent
        raise ApiError(404, "not_found", "there is no such case (case ids look like case-usr-<hex>-1)")
    case = CaseStore(ledger.cases).get(case_id)
    if case is None:
        raise ApiError(404, "not_found", "there is no such case")
    stored = sorted(FindingStore(ledger.findings).for_case(case_id),
                    key=lambda f: (f.observation.last_seen, f.rule_id, f.row_key), reverse=True)
    findings = [FindingModel.model_validate({**f.to_finding().to_json(), "recorded_at": f.recorded_at,
                                             "detection_latency_seconds": f.detection_latency_seconds})
                for f in stored[:MAX_CASE_FINDINGS]]
    # The case was detected when its first finding was recorded: that finding's latency is the case's.
    recorded = [f for f in stored if f.recorded_at is not None]
    opening = min(recorded, key=lambda f: f.recorded_at or f.observation.first_seen, default=None)
    actions = [ActionModel(action_id=a.action_id, step=a.step, target=a.target, phase=a.phase, mode=a.mode,
                           actor=a.actor, invocation_id=a.invocation_id, updated_at=a.updated_at,
                           attempts=a.attempts, detail=dict(a.detail))
               for a in ActionStore(ledger.actions).for_case(case_id)]
    return CaseDetail(
        case_id=case.case_id, state=case.state, severity=case.severity,
        principal=PrincipalModel(kind=case.principal.kind, value=case.principal.value), generation=case.generation,
        first_seen=case.first_seen, last_seen=case.last_seen, created_at=case.created_at,
        updated_at=case.updated_at, rule_ids=list(case.rule_ids), finding_count=len(case.finding_refs),
        more_findings=case.more_findings, user_upns=list(case.user_upns), token_ids=list(case.token_ids),
        transitions=[TransitionModel(at=t.at, from_state=t.from_state, to_state=t.to_state, reason=t.reason)
                     for t in case.transitions],
        transitions_dropped=case.transitions_dropped, findings=findings,
        findings_truncated=len(stored) > MAX_CASE_FINDINGS,
        enrichment=dict(case.enrichment) if case.enrichment is not None else None,
        decision=dict(case.decision) if case.decision is not None else None,
        plan=_plan(case, settings), actions=actions, sentinel_incident=getattr(case, "sentinel_incident", None),
        outbox=OutboxModel(wanted_since=case.work_wanted, failed_passes=case.work_attempts,
                           retry_at=case.work_retry_at, approved_by=case.work_request.approved_by,
                           gave_up=case.work_wanted is None and case.work_attempts >= WORK_ATTEMPTS),
        detection_latency_seconds=opening.detection_latency_seconds if opening is not None else None,
    )


def get_case(call: ApiCall, settings: Settings) -> CaseDetail:
    """``GET /cases/{id}``."""
    ledger = _open(settings)
    try:
        return case_detail(ledger, call.route_param("id"), settings)
    finally:
        ledger.close()
