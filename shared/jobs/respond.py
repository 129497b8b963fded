"""One response pass over named cases: enrich and triage them, then run their playbooks under the guardrails.

Every way in (the queue worker, the Sentinel incident route, an operator's
manual respond, an approval) ends here, so they share one order of work and
one set of guardrails. *run_id* comes from what triggered the pass (the queue
message, the incident and its event, the approval), so a retried trigger adds
nothing its first attempt already added.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shared.core.errors import ConfigurationError
from shared.core.settings import Settings
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger
from shared.respond.engine import CaseResponse

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.cases.policy.model import Policy
    from shared.ledger.lease import CaseLease

__all__ = ["claim_cases", "respond_to_cases", "settle_marks"]

_log = logging.getLogger("tokenwarden.respond")


def respond_to_cases(settings: Settings, ledger: Ledger, case_ids: Sequence[str], *, invocation_id: str,
                     run_id: str, now: datetime, enrich: bool = True, approved_by: str | None = None,
                     mode: str | None = None, actor: str = "tokenwarden",
                     credential: TokenCredential | None = None,
                     clock: Callable[[], datetime] | None = None) -> list[CaseResponse]:
    """Claim, triage and answer *case_ids*; *clock* is the wall clock leases are measured by (default: the system's)."""
    from shared.cases.policy.loader import load_policy
    from shared.core.credentials import credential_for

    credential = credential or credential_for(settings)
    policy = load_policy(Path(settings.triage_policy_file) if settings.triage_policy_file else None)
    # Claim before triage, so a case another invocation is working on is not even re-enriched; the engine
    # claims again (the same owner extends its own lease) and answers the ones held elsewhere as in progress.
    leases = claim_cases(ledger, case_ids, owner=invocation_id, clock=clock)
    try:
        return _respond(settings, ledger, case_ids, [lease.case_id for lease in leases], invocation_id=invocation_id,
                        run_id=run_id, now=now, enrich=enrich, approved_by=approved_by, mode=mode, actor=actor,
                        credential=credential, policy=policy, clock=clock)
    finally:
        for lease in leases:
            lease.release()


def claim_cases(ledger: Ledger, case_ids: Sequence[str], *, owner: str,
                clock: Callable[[], datetime] | None = None) -> list[CaseLease]:
    """The leases *owner* got among *case_ids* (a case held elsewhere, or that does not exist, is left out)."""
    from shared.core.errors import DataError
    from shared.ledger.lease import CaseLease

    held = []
    for case_id in dict.fromkeys(case_ids):
        lease = CaseLease(ledger.cases, case_id, owner=owner)
        if clock is not None:
            lease.clock = clock
        try:
            if lease.claim().held:
                held.append(lease)
        except DataError:
            continue
    return held


def _respond(settings: Settings, ledger: Ledger, case_ids: Sequence[str], claimed: Sequence[str], *,
             invocation_id: str, run_id: str, now: datetime, enrich: bool, approved_by: str | None,
             mode: str | None, actor: str, credential: TokenCredential, policy: Policy,
             clock: Callable[[], datetime] | None) -> list[CaseResponse]:
    from shared.cases.enrich.graph import GraphDirectory, build_graph_client
    from shared.cases.triage import triage_cases
    from shared.jobs.wiring import build_engine, build_key_intelligence, build_log_source
    if enrich and claimed:
        directory = GraphDirectory(build_graph_client(credential, base_url=f"{settings.graph_endpoint}/v1.0",
                                                        scopes=(settings.cloud.graph_scope,)))
        try:
            source = build_log_source(settings)
        except ConfigurationError:
            source = None  # IP facts need a workspace; enrichment records them as not looked up
        try:
            triage_cases(ledger, claimed, directory=directory, source=source,
                         keys=build_key_intelligence(settings), policy=policy, now=now)
        finally:
            if source is not None:
                source.close()
    store = CaseStore(ledger.cases)
    cases = [case for case in (store.get(case_id) for case_id in dict.fromkeys(case_ids)) if case is not None]

    async def answer() -> list[CaseResponse]:
        async with build_engine(settings, ledger, invocation_id=invocation_id, now=now, credential=credential,
                                policy=policy, actor=actor, mode=mode) as engine:
            engine.lease_clock = clock
            return await engine.respond_all(cases, now=now, approved_by=approved_by, run_id=run_id)

    answers = asyncio.run(answer())
    settle_marks(store, answers, {case.case_id: case.work_wanted for case in cases}, claimed=claimed, now=now)
    return answers


def settle_marks(store: CaseStore, answers: Sequence[CaseResponse], marks: Mapping[str, datetime | None], *,
                 claimed: Sequence[str], now: datetime) -> None:
    """The outbox after a pass: what becomes of the mark each answered case started from (*marks*).

    - a case held elsewhere, or whose protection could not be decided, keeps it: the scan timer queues it again;
    - a pass that ended with the case ``failed`` (a step failed after its own retries) counts one failed pass: the
      mark stays with a retry delay, until :data:`~shared.cases.model.WORK_ATTEMPTS` passes have failed and the
      outbox gives up (:meth:`CaseStore.retry_later`);
    - any other finished pass clears it.
    """
    from shared.respond.guardrails import UNDECIDED

    for done in answers:
        if done.case_id not in claimed or done.in_progress or done.reason.startswith(UNDECIDED):
            continue
        if done.state == "failed" and any(o.phase == "failed" for o in done.outcomes):
            failed = store.retry_later(done.case_id, marks.get(done.case_id), now=now)
            if failed.gave_up:
                _log.error("case %s failed %d time(s); it is no longer re-queued and stays failed for an operator "
                           "(POST /api/respond naming its user resumes it)", done.case_id, failed.attempts,
                           extra={"case_id": done.case_id})
            elif failed.retry_at is not None:
                _log.warning("case %s failed (attempt %d); the scan timer retries it from %s", done.case_id,
                             failed.attempts, failed.retry_at.isoformat(), extra={"case_id": done.case_id})
            continue
        store.clear_work_wanted(done.case_id, marks.get(done.case_id))
