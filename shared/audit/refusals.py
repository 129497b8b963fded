"""Refusals on the response path as audit rows, not only as log lines.

A refused approval (not verified, not signed in, no approver role, self-approval, insecure local mode off) or a
refused intake (``POST /respond``, the Sentinel incident route: a bad body, a request that would be its own
approval, an incident of another workspace) is recorded the way every response step is
(:class:`~shared.respond.actions.ActionStore`): one row in the Actions table, phase ``refused``, and, when the
audit stream is configured, the same record as a ``TokenwardenAudit_CL`` row (:class:`~shared.audit.ingestion.
AuditSink`). A log line can be sampled away or lost with the host; the table row is queryable beside the case's
own actions (``GET /api/cases/{id}`` lists it), and the stream row sits in Log Analytics with the rest.

Where the row goes. A refusal that names a case (an approval) is filed under that case's partition; any other
under :data:`REFUSALS_PARTITION`, which is never a case id. The row's step is ``refused:<route>`` and its target
the invocation id, so each refused request is one row and a replay of the same invocation writes nothing new.
Caller text in the row is escaped and scrubbed by the caller (:func:`shared.safetext.caller_text`) before it gets
here. Recording a refusal never changes the answer: a ledger or stream that fails is logged and the 4xx stands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.audit.ingestion import AuditSink
    from shared.core.settings import Settings
    from shared.ledger.connection import Ledger

__all__ = ["REFUSALS_PARTITION", "record_refusal"]

REFUSALS_PARTITION = "refusals"
"""The Actions partition of refusals that name no case (case ids look like ``case-usr-<hex>-1``)."""

audit_log = logging.getLogger("tokenwarden.audit")


def record_refusal(settings: Settings, *, route: str, invocation_id: str, status: int, code: str, message: str,
                   case_id: str | None, actor: str, who: Mapping[str, Any], now: datetime | None = None,
                   ledger: Ledger | None = None) -> bool:
    """Write the refusal's audit rows; returns whether the Actions row was written (False: it failed, logged).

    *who* is what the refusal knows of the caller (claimed name, verified name, object id, whether verified),
    already escaped; *message* is the one-line answer the caller got (already redacted).
    """
    from shared.core.errors import DataError
    from shared.core.safetext import caller_text
    from shared.ledger.codec import check_key
    from shared.respond.actions import ActionStore

    detail = {"route": route, "status": status, "code": code, "message": message, **who}
    partition = REFUSALS_PARTITION
    if case_id:
        try:
            check_key(case_id, "case id")
            partition = case_id
        except DataError:  # not a table key: filed with the others, the id kept (escaped) in the detail
            detail["case_id"] = caller_text(case_id, limit=256)
    try:
        own_ledger = ledger is None
        if ledger is None:
            from shared.ledger.connection import open_ledger

            ledger = open_ledger(settings)
        try:
            sink = _audit_sink(settings)
            ActionStore(ledger.actions, on_record=sink).record(
                partition, f"refused:{route}", invocation_id, phase="refused", mode=settings.response_mode,
                invocation_id=invocation_id, detail=detail, now=now or datetime.now(UTC), actor=actor)
            if sink is not None:
                asyncio.run(sink.close())  # never raises for an upload; a failure is logged and counted
        finally:
            if own_ledger:
                ledger.close()
    except Exception as exc:
        audit_log.error("refusal of %s (%s, invocation %s) could not be recorded in the Actions table: %s: %s",
                        route, code, invocation_id, type(exc).__name__, str(exc)[:300],
                        extra={"case_id": case_id or "", "invocation_id": invocation_id})
        return False
    return True


def _audit_sink(settings: Settings) -> AuditSink | None:
    """The TokenwardenAudit_CL sink when the stream is configured, else None."""
    if not settings.logs_ingestion_endpoint or not settings.audit_dcr_immutable_id:
        return None
    from shared.audit.ingestion import AuditSink
    from shared.core.credentials import credential_for

    return AuditSink.from_settings(settings, credential_for(settings))
