"""Key drift against a real local HTTP server (discovery + JWKS documents) and the ledger on Azurite."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.core.settings import load_settings
from shared.detect.keys.drift import DriftReport, check_key_drift, configured_key_sources
from shared.jobs.wiring import build_key_intelligence
from shared.ledger.connection import Ledger, LedgerTableNames
from shared.ledger.key_snapshot_store import KeySnapshot, KeySnapshotStore, SnapshotKey, key_snapshot_store
from tests.support.issuers import IssuerServer, kid
from tests.support.ledgers import LedgerFactory
from tests.support.servers import running

pytest_plugins = ("tests.support.azurite",)

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.fixture
def issuers() -> Iterator[IssuerServer]:
    with running(IssuerServer()) as server:
        server.keys = {"tenant-a": [kid("a1"), kid("a2")], "tenant-b": [kid("b1")]}
        yield server


@pytest.fixture
def snapshot_names(ledger_names: LedgerTableNames) -> LedgerTableNames:
    return replace(ledger_names, key_snapshots=f"KeySnapshots{uuid.uuid4().hex[:16]}")


@pytest.fixture
def snapshot_ledger(ledger_factory: LedgerFactory, snapshot_names: LedgerTableNames) -> Iterator[Ledger]:
    ledger = ledger_factory(snapshot_names)
    yield ledger
    ledger.service.delete_table(snapshot_names.key_snapshots)  # the factory drops the other four


@pytest.fixture
def store(snapshot_ledger: Ledger) -> KeySnapshotStore:
    return key_snapshot_store(snapshot_ledger)


def sources(server: IssuerServer) -> list[str]:
    return [server.discovery_url("tenant-a"), server.discovery_url("tenant-b")]


def removed_kids(report: DriftReport) -> set[str]:
    return {change.kid for change in report.removed}


def added_kids(report: DriftReport) -> set[str]:
    return {change.kid for change in report.added}


def test_first_check_is_a_baseline_with_no_drift(issuers: IssuerServer, store: KeySnapshotStore) -> None:
    report = check_key_drift(sources(issuers), store, now=T0)
    assert report.complete and not report.drifted and not report.events
    assert report.issuers_checked == report.baselined == tuple(sources(issuers))
    snapshot = store.snapshot(issuers.discovery_url("tenant-a"))
    assert snapshot is not None
    assert snapshot.kids == tuple(sorted([kid("a1"), kid("a2")])) == snapshot.thumbprints
    assert snapshot.issuer == "https://login.example/tenant-a/v2.0"
    assert snapshot.fetched_at == snapshot.checked_at == T0
    assert len(snapshot.content_hash) == 64
    assert store.history() == ()


def test_an_added_key_is_recorded_once(issuers: IssuerServer, store: KeySnapshotStore) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    issuers.keys["tenant-b"].append(kid("b2"))
    report = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=5))
    assert added_kids(report) == {kid("b2")} and report.removed == ()
    (change,) = report.added
    assert change.issuer == "https://login.example/tenant-b/v2.0"
    assert change.source == issuers.discovery_url("tenant-b") and change.seen_at == T0 + timedelta(minutes=5)
    again = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=10))
    assert not again.drifted and not again.baselined
    assert [event.added for event in store.history()] == [(SnapshotKey(kid("b2"), kid("b2")),)]


def test_a_removed_key_is_reported_for_the_cache_refresh(issuers: IssuerServer, store: KeySnapshotStore) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    issuers.keys["tenant-a"].remove(kid("a2"))
    report = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=5))
    assert removed_kids(report) == {kid("a2")} and report.added == ()
    assert report.removed[0].issuer == "https://login.example/tenant-a/v2.0"
    (event,) = store.history(issuers.discovery_url("tenant-a"))
    assert event.removed == (SnapshotKey(kid("a2"), kid("a2")),) and not event.handled
    assert store.history(issuers.discovery_url("tenant-b")) == ()


def test_a_rotation_is_one_event_with_the_old_key_removed_and_the_new_added(
        issuers: IssuerServer, store: KeySnapshotStore) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    issuers.keys["tenant-b"] = [kid("b9")]
    report = check_key_drift(sources(issuers), store, now=T0 + timedelta(hours=1))
    assert removed_kids(report) == {kid("b1")} and added_kids(report) == {kid("b9")}
    (event,) = report.events
    assert store.history() == (event,)
    snapshot = store.snapshot(issuers.discovery_url("tenant-b"))
    assert snapshot is not None and snapshot.kids == (kid("b9"),)
    assert event.new_hash == snapshot.content_hash != event.previous_hash


def test_an_unchanged_check_confirms_the_snapshot_without_drift(issuers: IssuerServer,
                                                                 store: KeySnapshotStore) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    report = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=5))
    assert not report.drifted and report.issuers_checked == tuple(sources(issuers))
    snapshot = store.snapshot(issuers.discovery_url("tenant-a"))
    assert snapshot is not None
    assert snapshot.fetched_at == T0 and snapshot.checked_at == T0 + timedelta(minutes=5)


def test_a_failed_fetch_is_reported_not_read_as_every_key_removed(issuers: IssuerServer,
                                                                  store: KeySnapshotStore) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    before = store.snapshot(issuers.discovery_url("tenant-a"))
    issuers.broken.add("tenant-a")
    issuers.keys["tenant-b"].append(kid("b2"))
    report = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=5))
    assert not report.complete and report.removed == ()
    assert [f.source for f in report.failures] == [issuers.discovery_url("tenant-a")]
    assert "503" in report.failures[0].message
    assert report.issuers_checked == (issuers.discovery_url("tenant-b"),)  # the other issuer still checked
    assert added_kids(report) == {kid("b2")}
    assert store.snapshot(issuers.discovery_url("tenant-a")) == before
    issuers.broken.clear()  # back, with the same keys: nothing was ever removed
    recovered = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=10))
    assert recovered.complete and not recovered.drifted


def test_an_issuer_that_publishes_no_keys_is_a_failure(issuers: IssuerServer, store: KeySnapshotStore) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    issuers.empty.add("tenant-a")
    report = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=5))
    assert report.removed == () and len(report.failures) == 1
    assert "published no keys" in report.failures[0].message


def test_an_unreachable_issuer_on_its_first_check_stores_nothing(issuers: IssuerServer,
                                                                  store: KeySnapshotStore) -> None:
    with running(IssuerServer()) as gone:
        dead = gone.discovery_url("tenant-x")
    report = check_key_drift([dead, *sources(issuers)], store, now=T0)
    assert [f.source for f in report.failures] == [dead] and "failed" in report.failures[0].message
    assert store.snapshot(dead) is None and len(report.baselined) == 2


def test_concurrent_timers_record_one_drift(issuers: IssuerServer, store: KeySnapshotStore,
                                            ledger_factory: LedgerFactory,
                                            snapshot_names: LedgerTableNames) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    issuers.keys["tenant-a"] = [kid("a2"), kid("a3")]
    timers = 6
    barrier = threading.Barrier(timers)
    reports: list[DriftReport] = []
    errors: list[BaseException] = []
    stores = [key_snapshot_store(ledger_factory(snapshot_names)) for _ in range(timers)]  # a client per timer

    def timer(index: int) -> None:
        try:
            barrier.wait()
            reports.append(check_key_drift(sources(issuers), stores[index],
                                           now=T0 + timedelta(minutes=5, seconds=index)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=timer, args=(i,)) for i in range(timers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(kid_ for report in reports for kid_ in removed_kids(report)) == [kid("a1")]
    assert sorted(kid_ for report in reports for kid_ in added_kids(report)) == [kid("a3")]
    assert len(store.history()) == 1
    snapshot = store.snapshot(issuers.discovery_url("tenant-a"))
    assert snapshot is not None and snapshot.kids == tuple(sorted([kid("a2"), kid("a3")]))


def test_racing_writers_of_one_observation_store_it_once(store: KeySnapshotStore) -> None:
    base = KeySnapshot.observed(source="https://issuer.example/keys", issuer=None, fetched_at=T0,
                                keys=[SnapshotKey("k1"), SnapshotKey("k2")])
    assert store.record(base).kind == "baseline"
    rotated = replace(base, keys=frozenset({SnapshotKey("k2"), SnapshotKey("k3")}),
                      fetched_at=T0 + timedelta(minutes=1), checked_at=T0 + timedelta(minutes=1))
    barrier = threading.Barrier(8)
    kinds: list[str] = []

    def write() -> None:
        barrier.wait()
        kinds.append(store.record(rotated).kind)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(kinds) == ["drift"] + ["stale"] * 7
    (event,) = store.history()
    assert event.removed == (SnapshotKey("k1"),) and event.added == (SnapshotKey("k3"),)


def test_a_slow_timer_never_puts_back_an_older_key_set(store: KeySnapshotStore) -> None:
    old = KeySnapshot.observed(source="s", issuer=None, fetched_at=T0, keys=[SnapshotKey("k1")])
    new = KeySnapshot.observed(source="s", issuer=None, fetched_at=T0 + timedelta(minutes=10),
                               keys=[SnapshotKey("k2")])
    slow = KeySnapshot.observed(source="s", issuer=None, fetched_at=T0 + timedelta(minutes=5),
                                keys=[SnapshotKey("k1")])
    store.record(old)
    assert store.record(new).kind == "drift"
    assert store.record(slow).kind == "stale"
    snapshot = store.snapshot("s")
    assert snapshot is not None and snapshot.kids == ("k2",) and len(store.history()) == 1


def test_drift_can_be_marked_handled(issuers: IssuerServer, store: KeySnapshotStore) -> None:
    check_key_drift(sources(issuers), store, now=T0)
    issuers.keys["tenant-a"].remove(kid("a1"))
    issuers.keys["tenant-b"].remove(kid("b1"))
    issuers.keys["tenant-b"].append(kid("b2"))
    report = check_key_drift(sources(issuers), store, now=T0 + timedelta(minutes=5))
    assert len(store.unhandled()) == 2
    store.mark_handled(report.events[0], at=T0 + timedelta(minutes=6))
    assert store.unhandled() == (report.events[1],)
    assert {event.handled for event in store.history()} == {True, False}


def test_jwks_files_are_sources_too(tmp_path: Path, store: KeySnapshotStore) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"keys": [{"kid": "k1"}, {"kid": "k2", "x5t": "t2"}]}))
    assert check_key_drift([str(path)], store, now=T0).baselined == (str(path),)
    path.write_text(json.dumps({"keys": [{"kid": "k2", "x5t": "t2"}]}))
    report = check_key_drift([str(path)], store, now=T0 + timedelta(minutes=5))
    assert removed_kids(report) == {"k1"} and report.removed[0].issuer is None


def test_the_next_scan_reads_the_key_set_the_drift_check_saw(issuers: IssuerServer,
                                                             store: KeySnapshotStore) -> None:
    settings = load_settings({"KEY_SOURCES": ",".join(sources(issuers))})
    assert configured_key_sources(settings) == tuple(sources(issuers))
    assert kid("a1") in build_key_intelligence(settings).published_kids()
    check_key_drift(configured_key_sources(settings), store, now=T0)
    issuers.keys["tenant-a"] = [kid("a9")]
    report = check_key_drift(configured_key_sources(settings), store, now=T0 + timedelta(minutes=5))
    assert removed_kids(report) == {kid("a1"), kid("a2")}
    published = build_key_intelligence(settings).published_kids()  # a scan builds its key list the same way
    assert kid("a9") in published and kid("a1") not in published


def test_without_key_sources_the_entra_defaults_are_watched() -> None:
    settings = load_settings({"ENTRA_TENANT_ID": "72f988bf-86f1-41af-91ab-2d7cd011db47"})
    watched = configured_key_sources(settings)
    assert len(watched) == 5 and all(url.startswith("https://login.microsoftonline.com/") for url in watched)
