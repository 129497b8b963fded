"""A lease holder writes its case from the version it holds (Azurite): no read before its own writes, and a
write that lands on that version (If-Match) is the proof that the lease is still its own, never a stale copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bench.ledger_trips import RoundTrips
from shared.core.settings import load_settings
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger, LedgerTableNames, open_ledger
from shared.ledger.lease import CaseLease, LeaseLostError
from shared.ledger.optimistic import read_modify_write
from shared.ledger.recorder import record_findings
from tests.support.findings import make_finding

pytest_plugins = ("tests.support.azurite",)

ALICE = "aaaaaaaa-0000-4000-8000-000000000001"


@pytest.fixture
def counted(storage_environment: dict[str, str], ledger_names: LedgerTableNames,
            ledger: Ledger) -> tuple[Ledger, RoundTrips, str]:
    """The test's tables (one case in them) through a second client whose every request is counted."""
    now = datetime.now(UTC)
    record_findings(ledger, [make_finding(oid=ALICE, token="t1", first=now)], now=now)
    case_id = CaseStore(ledger.cases).cases()[0].case_id
    CaseStore(ledger.cases).record_triage(case_id, enrichment={}, decision={}, severity="High", reason="test",
                                          at=now)
    trips = RoundTrips()
    counted_ledger = open_ledger(load_settings(storage_environment), names=ledger_names,
                                 client_options=trips.client_options())
    return counted_ledger, trips, case_id


def test_a_holder_moves_and_frees_its_case_without_reading_it_again(counted: tuple[Ledger, RoundTrips, str]) -> None:
    ledger, trips, case_id = counted
    cases, lease = CaseStore(ledger.cases), CaseLease(ledger.cases, case_id, owner="inv-a")
    try:
        assert lease.claim().held
        held = CaseStore.held(lease)
        assert held is not None and held.state == "enriched"
        trips.reset()
        moved = cases.transition(case_id, "responding", reason="test", at=datetime.now(UTC), holder=lease)
        lease.renew()  # the transition landed on the version the claim wrote: that is the re-check
        assert dict(trips.counts) == {"Cases/case write": 1}
        lease.renew()  # a proof serves once: the next re-check reads
        assert dict(trips.counts) == {"Cases/case write": 1, "Cases/case read": 1}
        done = cases.transition(case_id, "contained", reason="test", at=datetime.now(UTC), holder=lease,
                                release=True)
        assert moved.state == "responding" and done.state == "contained"
        assert dict(trips.counts) == {"Cases/case write": 2, "Cases/case read": 1}
        assert CaseLease(ledger.cases, case_id, owner="inv-b").claim().held  # the last write freed it
    finally:
        ledger.close()


def test_a_holder_whose_case_was_written_by_another_finds_out_at_the_next_check(
        counted: tuple[Ledger, RoundTrips, str]) -> None:
    """The thief's write changes the ETag: the holder's transition lands only after a fresh read, which proves
    nothing about the lease, so the re-check reads and finds the thief."""
    ledger, _, case_id = counted
    cases, lease = CaseStore(ledger.cases), CaseLease(ledger.cases, case_id, owner="inv-a")
    try:
        assert lease.claim().held
        until = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        read_modify_write(ledger.cases, "case", case_id,
                          lambda stored: {"LeaseOwner": "inv-thief", "LeaseUntil": until}, what="steal")
        cases.transition(case_id, "responding", reason="test", at=datetime.now(UTC), holder=lease)
        with pytest.raises(LeaseLostError, match="inv-thief"):
            lease.renew()
    finally:
        ledger.close()
