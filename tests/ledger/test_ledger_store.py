"""The ledger on Azurite: one case per principal, deduplicated findings, lifecycle, ETag conflicts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
from azure.data.tables import TableClient

from shared.cases.merge import sightings
from shared.cases.principal import Principal, finding_identity
from shared.core.errors import ConfigurationError, DataError
from shared.core.settings import load_settings
from shared.detect.logsources.base import TimeRange
from shared.ledger.case_store import MAX_TRANSITIONS, CaseStore
from shared.ledger.checkpoint_store import CheckpointStore
from shared.ledger.connection import Ledger, open_ledger
from shared.ledger.finding_store import FindingStore
from shared.ledger.optimistic import read_modify_write
from shared.ledger.recorder import record_findings
from tests.support.findings import make_finding, minutes

pytest_plugins = ("tests.support.azurite",)

ALICE, BOB = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"


def test_findings_group_into_one_case_per_principal(ledger: Ledger, t0: datetime) -> None:
    result = record_findings(ledger, [
        make_finding(oid=ALICE, upn="alice@contoso.com", token="t1"),
        make_finding(oid=ALICE.upper(), token="t2", rule_id="unpublished-signing-key", severity="Medium"),
        make_finding(oid=BOB, token="t3"),
        make_finding(token="t4"),  # nobody named: the token is the case
    ], now=t0)
    assert result.findings_new == 4
    assert [c.created for c in result.changes] == [True, True, True]
    assert all(c.needs_work for c in result.changes)
    cases = {c.principal: c for c in CaseStore(ledger.cases).cases()}
    assert set(cases) == {Principal("user", ALICE), Principal("user", BOB), Principal("token", "t4")}
    alice = cases[Principal("user", ALICE)]
    assert alice.rule_ids == ("compromised-signing-key", "unpublished-signing-key")
    assert alice.severity == "High" and alice.state == "new" and len(alice.finding_refs) == 2
    stored = FindingStore(ledger.findings).all()
    assert {f.case_id for f in stored if f.user_object_id.lower() == ALICE} == {alice.case_id}
    assert {f.token_id for f in FindingStore(ledger.findings).for_case(alice.case_id)} == {"t1", "t2"}


def test_recording_the_same_findings_again_changes_nothing(ledger: Ledger, t0: datetime) -> None:
    batch = [make_finding(oid=ALICE, token="t1", count=3), make_finding(oid=BOB, token="t2")]
    record_findings(ledger, batch, now=t0)
    before = (CaseStore(ledger.cases).cases(), FindingStore(ledger.findings).all())
    again = record_findings(ledger, batch, now=t0 + timedelta(minutes=5))
    assert (again.findings_new, again.findings_merged, again.findings_unchanged) == (0, 0, 2)
    assert not any(change.needs_work for change in again.changes)
    assert (CaseStore(ledger.cases).cases(), FindingStore(ledger.findings).all()) == before


def test_re_detection_updates_the_open_case_and_severity_only_rises(ledger: Ledger, t0: datetime) -> None:
    record_findings(ledger, [make_finding(oid=ALICE, token="t1", severity="Medium")], now=t0)
    later = t0 + timedelta(hours=1)
    low = record_findings(ledger, [make_finding(oid=ALICE, token="t2", severity="Low", first=later)], now=later)
    (change,) = low.changes
    assert not change.created and change.refs_added == 1 and not change.severity_raised
    assert change.severity == "Medium"
    high = record_findings(ledger, [make_finding(oid=ALICE, token="t3", severity="High")], now=later)
    assert high.changes[0].severity_raised
    (case,) = CaseStore(ledger.cases).cases()
    assert case.severity == "High" and case.last_seen == later and len(case.finding_refs) == 3


def test_a_upn_only_finding_joins_the_case_of_the_user_it_was_seen_with(ledger: Ledger, t0: datetime) -> None:
    record_findings(ledger, [make_finding(oid=ALICE, upn="Alice@Contoso.com", token="t1")], now=t0)
    mail = make_finding(rule_id="mail-access-by-unexpected-app", upn="alice@contoso.com", token=None,
                        source_table="OfficeActivity", severity="Medium")
    result = record_findings(ledger, [mail], now=t0)
    assert [c.principal for c in result.changes] == [Principal("user", ALICE)]
    assert len(CaseStore(ledger.cases).cases()) == 1


def test_the_alias_also_serves_a_upn_only_finding_in_the_same_batch(ledger: Ledger, t0: datetime) -> None:
    mail = make_finding(rule_id="mail-access-by-unexpected-app", upn="alice@contoso.com", token=None)
    result = record_findings(ledger, [mail, make_finding(oid=ALICE, upn="alice@contoso.com", token="t1")], now=t0)
    assert [c.principal for c in result.changes] == [Principal("user", ALICE)]


def test_a_closed_case_is_never_reopened_re_detection_opens_the_next_generation(ledger: Ledger,
                                                                                t0: datetime) -> None:
    store = CaseStore(ledger.cases)
    (first,) = record_findings(ledger, [make_finding(oid=ALICE, token="t1")], now=t0).changes
    store.transition(first.case_id, "closed", reason="false positive: a pen test", at=t0 + minutes(30))
    (second,) = record_findings(ledger, [make_finding(oid=ALICE, token="t1", count=2)],
                                now=t0 + minutes(60)).changes
    assert second.created and second.case_id != first.case_id
    assert second.case_id.endswith("-2") and first.case_id.endswith("-1")
    old, new = store.get(first.case_id), store.get(second.case_id)
    assert old is not None and old.state == "closed"
    assert new is not None and new.state == "new" and new.generation == 2
    (finding,) = FindingStore(ledger.findings).all()
    assert finding.case_id == second.case_id and finding.observation.count == 2
    assert [c.case_id for c in store.cases(open_only=True)] == [second.case_id]


def test_a_case_closed_by_a_closer_that_crashed_before_releasing_its_principal_is_not_reused(
        ledger: Ledger, t0: datetime) -> None:
    store = CaseStore(ledger.cases)
    (first,) = record_findings(ledger, [make_finding(oid=ALICE, token="t1")], now=t0).changes
    store.transition(first.case_id, "closed", reason="resolved", at=t0)
    # Undo the release, as if the closer had died between closing the case and freeing the principal.
    read_modify_write(ledger.cases, "principal", Principal("user", ALICE).digest(),
                      lambda stored: {"OpenCaseId": first.case_id}, what="test")
    (second,) = record_findings(ledger, [make_finding(oid=ALICE, token="t2")], now=t0).changes
    assert second.created and second.case_id.endswith("-2")
    closed = store.get(first.case_id)
    assert closed is not None and closed.state == "closed" and len(closed.finding_refs) == 1


def test_transitions_are_stored_with_time_and_reason_and_bounded(ledger: Ledger, t0: datetime) -> None:
    store = CaseStore(ledger.cases)
    (change,) = record_findings(ledger, [make_finding(oid=ALICE, token="t1")], now=t0).changes
    store.transition(change.case_id, "enriched", reason="sign-ins and devices read", at=t0 + minutes(1))
    store.transition(change.case_id, "responding", reason="auto mode", at=t0 + minutes(2))
    for step in range(30):
        store.transition(change.case_id, "contained", reason=f"sessions revoked {step}", at=t0 + minutes(3 + step))
        store.transition(change.case_id, "responding", reason=f"token seen again {step}", at=t0 + minutes(3 + step))
    case = store.get(change.case_id)
    assert case is not None
    assert len(case.transitions) == MAX_TRANSITIONS
    assert case.transitions_dropped == 63 - MAX_TRANSITIONS
    assert case.transitions[0].to_state == "new"  # the opening is always kept
    assert case.transitions[-1].reason == "token seen again 29"
    assert case.transitions[-1].at == t0 + minutes(32)
    with pytest.raises(DataError, match="no case case-nope"):
        store.transition("case-nope", "closed", reason="x", at=t0)


class Interfering:
    """A TableClient whose first write lets a rival write land first, provoking a real ETag conflict."""

    def __init__(self, inner: TableClient, rival: Callable[[], None]) -> None:
        self.inner, self.rival, self.conflicts = inner, rival, 0

    def _write(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.rival is not None:
            rival, self.rival = self.rival, None  # type: ignore[assignment]
            rival()
        try:
            return getattr(self.inner, method)(*args, **kwargs)
        except (ResourceModifiedError, ResourceExistsError):
            self.conflicts += 1
            raise

    def update_entity(self, *args: Any, **kwargs: Any) -> Any:
        return self._write("update_entity", *args, **kwargs)

    def create_entity(self, *args: Any, **kwargs: Any) -> Any:
        return self._write("create_entity", *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_an_etag_conflict_on_a_case_is_retried_and_keeps_both_writers_findings(ledger: Ledger,
                                                                                t0: datetime) -> None:
    alice = Principal("user", ALICE)
    plain = CaseStore(ledger.cases)
    case_id, generation = plain.open_case_for(alice, now=t0)
    plain.attach(case_id, alice, generation, sightings([make_finding(oid=ALICE, token="a")]), now=t0)

    def rival() -> None:
        plain.attach(case_id, alice, generation, sightings([make_finding(oid=ALICE, token="rival")]), now=t0)

    table = Interfering(ledger.cases, rival)
    mine = CaseStore(cast(TableClient, table)).attach(
        case_id, alice, generation, sightings([make_finding(oid=ALICE, token="mine", severity="Low")]), now=t0)
    assert table.conflicts == 1
    assert mine is not None and mine.delta.refs_added == 1
    case = plain.get(case_id)
    assert case is not None
    assert set(case.token_ids) == {"a", "rival", "mine"}
    assert len(case.finding_refs) == 3


def test_racing_inserts_of_one_finding_merge_instead_of_failing(ledger: Ledger, t0: datetime) -> None:
    plain = FindingStore(ledger.findings)
    alice = Principal("user", ALICE)
    rivals = sightings([make_finding(oid=ALICE, token="t1", ip="10.0.0.1", first=t0 + minutes(40),
                                      last=t0 + minutes(50), count=4)])
    mine = sightings([make_finding(oid=ALICE, token="t1", ip="10.0.0.2", first=t0, last=t0 + minutes(10),
                                   count=3)])
    table = Interfering(ledger.findings, lambda: plain.record(rivals[0], case_id="c", principal=alice, now=t0))
    write = FindingStore(cast(TableClient, table)).record(mine[0], case_id="c", principal=alice, now=t0)
    assert table.conflicts == 1 and write.outcome == "merged"
    (stored,) = plain.all()
    assert stored.observation.first_seen == t0 and stored.observation.last_seen == t0 + minutes(50)
    assert stored.observation.count == 7  # disjoint spans add up, whichever writer landed first
    assert set(stored.ip_addresses) == {"10.0.0.1", "10.0.0.2"}
    assert stored.row_key == finding_identity(mine[0].finding).row_key


def test_a_watermark_only_moves_forward(ledger: Ledger, t0: datetime) -> None:
    checkpoints = CheckpointStore(ledger.checkpoints)
    assert checkpoints.watermark("compromised-signing-key") is None
    checkpoints.advance("compromised-signing-key", TimeRange(start=t0, end=t0 + minutes(60)), now=t0)
    after = checkpoints.advance("compromised-signing-key", TimeRange(start=t0, end=t0 + minutes(30)), now=t0)
    assert after == t0 + minutes(60) == checkpoints.watermark("compromised-signing-key")
    assert checkpoints.watermarks() == {"compromised-signing-key": t0 + minutes(60)}


def test_a_missing_table_is_named(storage_environment: dict[str, str], ledger: Ledger, t0: datetime) -> None:
    broken = open_ledger(load_settings(storage_environment), create_tables=False)
    try:
        findings = broken.service.get_table_client("Nosuchtable")
        with pytest.raises(ConfigurationError, match="table Nosuchtable does not exist"):
            FindingStore(findings).record(sightings([make_finding(token="t")])[0], case_id="c",
                                          principal=Principal("token", "t"), now=t0)
    finally:
        broken.close()
