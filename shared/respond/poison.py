"""What happens to a respond message the host gave up on: its case fails, with the reason, and the incident says so.

The host moves a message to ``<queue>-poison`` after ``maxDequeueCount``
failed attempts. Left there it would be a silent drop: the case would sit in
``responding`` or ``enriched`` forever. The poison worker moves the case to
``failed`` (an operator can retry it from there) and, when Sentinel is
configured, adds a comment to the case's incident.

The poisoned message counts as one failed pass on the case's outbox mark
(:meth:`~shared.ledger.case_store.CaseStore.retry_later`): the scan timer retries
the case after a delay, a bounded number of times, and then stops, so a case the
worker cannot get through (a storage outage that outlasted the host's five quick
deliveries is retried; a case that crashes the worker every time is not retried
forever) ends ``failed`` and visible, not re-queued by every scan.

One actor per case applies here too: the poison worker claims the case's lease
(:class:`~shared.ledger.lease.CaseLease`) before it changes anything. When
another invocation holds a live lease (a re-queued message is being worked on),
that invocation is answering the case: marking it ``failed`` under it would
contradict what it is doing, so the poison message completes without touching
the case, and the case's outbox mark brings it back if that holder dies too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.cases.model import ALLOWED_TRANSITIONS
from shared.core.settings import Settings
from shared.ledger.connection import Ledger
from shared.respond.work_queue import WorkItem

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["fail_poisoned_case"]

log = logging.getLogger("tokenwarden.respond")


def fail_poisoned_case(settings: Settings, ledger: Ledger, item: WorkItem, *, message_id: str, dequeue_count: int,
                       now: datetime, invocation_id: str, credential: TokenCredential | None = None,
                       clock: Callable[[], datetime] | None = None) -> dict[str, Any]:
    """Fail the case of a poisoned message, under its lease (*invocation_id* the owner, *clock* the lease's)."""
    from shared.core.errors import DataError
    from shared.ledger.case_store import CaseStore
    from shared.ledger.lease import CaseLease

    store = CaseStore(ledger.cases)
    lease = CaseLease(ledger.cases, item.case_id, owner=invocation_id)
    if clock is not None:
        lease.clock = clock
    try:
        claim = lease.claim()
    except DataError:
        log.error("poison message %s names no known case %s; kept in the poison queue's log only",
                  message_id, item.case_id)
        return {"case_id": item.case_id, "state": None, "incident": None}
    if not claim.held:
        log.warning("poison message %s: case %s is held by %s, which is answering it; the case is left to it",
                    message_id, item.case_id, claim.holder, extra={"case_id": item.case_id,
                                                                   "invocation_id": invocation_id})
        current = store.get(item.case_id)
        return {"case_id": item.case_id, "state": current.state if current else None, "incident": None,
                "held_by": claim.holder}
    try:
        case = store.get(item.case_id)
        if case is None:
            return {"case_id": item.case_id, "state": None, "incident": None}
        failed = store.retry_later(case.case_id, case.work_wanted, now=now)
        if failed.retry_at is not None:
            then = f"the scan timer retries it from {failed.retry_at.isoformat()} (failed pass {failed.attempts})"
        elif failed.gave_up:
            then = (f"after {failed.attempts} failed passes it is no longer retried: see the function's logs for "
                    "the errors, then resume it (POST /api/respond naming its user) or close it")
        else:
            then = "see the function's logs for the errors, then retry or close the case"
        reason = (f"the respond worker gave up after {dequeue_count} attempt(s) on queue message {message_id}; "
                  f"{then}")
        if "failed" in ALLOWED_TRANSITIONS[case.state]:
            case = store.transition(case.case_id, "failed", reason=reason, at=now)
        incident = None
        if settings.sentinel_workspace_resource_id:
            incident = asyncio.run(_comment(settings, case.case_id, case.sentinel_incident, message_id, reason,
                                            credential))
        return {"case_id": case.case_id, "state": case.state, "incident": incident}
    finally:
        lease.release()


async def _comment(settings: Settings, case_id: str, named: str | None, message_id: str, reason: str,
                   credential: TokenCredential | None) -> dict[str, Any]:
    import html

    from shared.core.credentials import credential_for
    from shared.respond.steps.sentinel import SentinelIncidents
    from shared.respond.transport.arm_client import ArmClient

    async with ArmClient(credential or credential_for(settings), endpoint=settings.arm_endpoint,
                         scope=settings.cloud.arm_scope) as arm:
        incidents = SentinelIncidents(arm, settings.sentinel_workspace_resource_id)
        name = named or incidents.incident_name_for(case_id)
        if await incidents.get_incident(name) is None:
            return {"incident": name, "comment": None, "note": "no incident exists for this case yet"}
        text = f"<p><b>Tokenwarden could not finish responding to case {html.escape(case_id)}.</b></p>" \
               f"<p>{html.escape(reason)}</p>"
        return await incidents.add_comment(name, incidents.comment_id_for(case_id, f"poison:{message_id}"), text)
