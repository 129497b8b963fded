"""The issuers' published key sets in the ``KeySnapshots`` table: the last snapshot, and every drift since.

Each watched key source (a discovery URL or a JWKS file) has a partition of its own, keyed by a hash of
the source. In it, row ``snapshot`` holds the key set last seen (kids, x5t thumbprints, a content hash,
when this content was first fetched and when a fetch last confirmed it), and one ``drift-<time>-<hash>``
row per change records the keys added and removed, append-only, for operators to list.

A change is stored as one entity-group transaction: the snapshot is replaced under the ETag it was read
with, and the drift row is inserted, or neither is. Timers that race on the same source therefore
record a change once: the loser's transaction fails (412 or 409), it reads again, and finds the key set
it fetched already stored. A fetch older than the stored snapshot's last confirmation is ``stale`` and
writes nothing, so a slow timer never puts back a key set that a newer fetch has replaced.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from shared.core.errors import ConfigurationError, DataError
from shared.ledger.codec import check_key, clip, dump_json, format_time, load_json, parse_time
from shared.ledger.optimistic import MAX_ATTEMPTS, LedgerConflictError, StoredEntity, read_entity

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.ledger.connection import Ledger

__all__ = [
    "DriftEvent",
    "KeyChange",
    "KeySnapshot",
    "KeySnapshotStore",
    "SnapshotKey",
    "Transition",
    "TransitionKind",
    "content_hash",
    "key_snapshot_store",
]

_SNAPSHOT_ROW = "snapshot"
_DRIFT_PREFIX = "drift-"
_DRIFT_END = "drift."  # '.' sorts right after '-': every drift row lies in [_DRIFT_PREFIX, _DRIFT_END)

TransitionKind = Literal["baseline", "unchanged", "drift", "stale"]


@dataclass(frozen=True, order=True)
class SnapshotKey:
    """One published key as the snapshot keeps it: its kid and, if published, its x5t thumbprint."""

    kid: str
    x5t: str | None = None


def content_hash(keys: Iterable[SnapshotKey]) -> str:
    """SHA-256 over the sorted (kid, x5t) pairs: equal for equal key sets whatever their order."""
    canonical = json.dumps(sorted([key.kid, key.x5t or ""] for key in set(keys)), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class KeySnapshot:
    """A source's key set. ``fetched_at``: when this content was first fetched; ``checked_at``: when a
    fetch last confirmed it (equal for a fresh observation)."""

    source: str
    issuer: str | None
    keys: frozenset[SnapshotKey]
    fetched_at: datetime
    checked_at: datetime

    @classmethod
    def observed(cls, *, source: str, issuer: str | None, keys: Iterable[SnapshotKey],
                 fetched_at: datetime) -> KeySnapshot:
        return cls(source=source, issuer=issuer, keys=frozenset(keys), fetched_at=fetched_at, checked_at=fetched_at)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(sorted({key.kid for key in self.keys}))

    @property
    def thumbprints(self) -> tuple[str, ...]:
        return tuple(sorted({key.x5t for key in self.keys if key.x5t}))

    @property
    def content_hash(self) -> str:
        return content_hash(self.keys)


@dataclass(frozen=True, kw_only=True)
class KeyChange:
    """One key that appeared in or disappeared from a source's published set."""

    change: Literal["added", "removed"]
    kid: str
    x5t: str | None
    issuer: str | None
    source: str
    seen_at: datetime


@dataclass(frozen=True, kw_only=True)
class DriftEvent:
    """One stored change of a source's key set. ``event_id`` is its row key; ``handled`` is set by
    :meth:`KeySnapshotStore.mark_handled` once whatever the change called for (a key-cache refresh) ran."""

    event_id: str
    source: str
    issuer: str | None
    seen_at: datetime
    previous_hash: str
    new_hash: str
    added: tuple[SnapshotKey, ...]
    removed: tuple[SnapshotKey, ...]
    handled: bool

    def changes(self) -> tuple[KeyChange, ...]:
        def change(kind: Literal["added", "removed"], key: SnapshotKey) -> KeyChange:
            return KeyChange(change=kind, kid=key.kid, x5t=key.x5t, issuer=self.issuer, source=self.source,
                             seen_at=self.seen_at)

        return tuple(change("added", key) for key in self.added) + tuple(change("removed", key) for key in self.removed)


@dataclass(frozen=True, kw_only=True)
class Transition:
    """What storing one observation did: ``baseline`` (first snapshot, no drift), ``unchanged``,
    ``drift`` (``event`` holds the change) or ``stale`` (a newer fetch is already stored; nothing written).
    ``previous`` is the snapshot the decision was made on."""

    kind: TransitionKind
    previous: KeySnapshot | None
    event: DriftEvent | None
    attempts: int


def _partition(source: str) -> str:
    return "src-" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:40]


def _keys_json(keys: Iterable[SnapshotKey], what: str) -> str:
    return dump_json(sorted([key.kid, key.x5t] for key in keys), what)


def _keys_from(value: object, what: str) -> tuple[SnapshotKey, ...]:
    loaded = load_json(value, what) or []
    if not isinstance(loaded, list):
        raise DataError(f"stored {what} is not a list")
    keys: list[SnapshotKey] = []
    for item in loaded:
        if (not isinstance(item, list) or len(item) != 2 or not isinstance(item[0], str)
                or not (item[1] is None or isinstance(item[1], str))):
            raise DataError(f"stored {what} holds {str(item)[:80]!r}, not a [kid, x5t] pair")
        keys.append(SnapshotKey(kid=item[0], x5t=item[1]))
    return tuple(keys)


def _snapshot_entity(snapshot: KeySnapshot) -> dict[str, Any]:
    return {
        "Source": clip(snapshot.source),
        "Issuer": clip(snapshot.issuer),
        "Keys": _keys_json(snapshot.keys, "key snapshot"),
        "Kids": dump_json(list(snapshot.kids), "key snapshot kids"),
        "Thumbprints": dump_json(list(snapshot.thumbprints), "key snapshot thumbprints"),
        "KeyCount": len(snapshot.keys),
        "ContentHash": snapshot.content_hash,
        "FetchedAt": format_time(snapshot.fetched_at),
        "CheckedAt": format_time(snapshot.checked_at),
    }


def _snapshot_from(properties: Mapping[str, Any]) -> KeySnapshot:
    keys = frozenset(_keys_from(properties.get("Keys"), "key snapshot"))
    stored_hash = properties.get("ContentHash")
    if stored_hash != content_hash(keys):
        raise DataError(f"stored key snapshot of {str(properties.get('Source'))[:120]!r} does not match its hash")
    return KeySnapshot(source=str(properties.get("Source", "")), issuer=str(properties.get("Issuer") or "") or None,
                       keys=keys, fetched_at=parse_time(properties.get("FetchedAt"), "snapshot fetched_at"),
                       checked_at=parse_time(properties.get("CheckedAt"), "snapshot checked_at"))


def _event_from(row_key: str, properties: Mapping[str, Any]) -> DriftEvent:
    return DriftEvent(
        event_id=row_key,
        source=str(properties.get("Source", "")),
        issuer=str(properties.get("Issuer") or "") or None,
        seen_at=parse_time(properties.get("SeenAt"), "drift seen_at"),
        previous_hash=str(properties.get("PreviousHash", "")),
        new_hash=str(properties.get("NewHash", "")),
        added=_keys_from(properties.get("Added"), "added keys"),
        removed=_keys_from(properties.get("Removed"), "removed keys"),
        handled=bool(properties.get("Handled", False)),
    )


def _pause(attempt: int) -> None:
    """Jittered backoff, so timers that collided do not collide again in lockstep."""
    time.sleep(random.uniform(0, min(0.005 * 2 ** min(attempt, 6), 0.25)))  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class KeySnapshotStore:
    table: TableClient

    def snapshot(self, source: str) -> KeySnapshot | None:
        stored = read_entity(self.table, _partition(source), _SNAPSHOT_ROW)
        return _snapshot_from(stored.properties) if stored else None

    def snapshots(self) -> dict[str, KeySnapshot]:
        """Every source's last snapshot, by source."""
        entities = self.table.query_entities("RowKey eq @rk", parameters={"rk": _SNAPSHOT_ROW})
        return {snapshot.source: snapshot for snapshot in (_snapshot_from(entity) for entity in entities)}

    def history(self, source: str | None = None) -> tuple[DriftEvent, ...]:
        """Stored drift, oldest first; of one source, or of all of them."""
        parameters: dict[str, str] = {"lo": _DRIFT_PREFIX, "hi": _DRIFT_END}
        query = "RowKey ge @lo and RowKey lt @hi"
        if source is not None:
            query = "PartitionKey eq @pk and " + query
            parameters["pk"] = _partition(source)
        events = [_event_from(str(entity["RowKey"]), entity)
                  for entity in self.table.query_entities(query, parameters=parameters)]
        return tuple(sorted(events, key=lambda event: (event.seen_at, event.source, event.event_id)))

    def unhandled(self) -> tuple[DriftEvent, ...]:
        """Drift not yet marked handled: what a run that died after recording it still owes."""
        return tuple(event for event in self.history() if not event.handled)

    def mark_handled(self, event: DriftEvent, *, at: datetime) -> None:
        from azure.data.tables import UpdateMode

        self.table.update_entity({"PartitionKey": _partition(event.source), "RowKey": event.event_id,
                                  "Handled": True, "HandledAt": format_time(at)}, mode=UpdateMode.MERGE)

    def record(self, observed: KeySnapshot) -> Transition:
        """Store *observed* as its source's snapshot, recording the drift from the stored one, if any.

        Retries on conflicting writers; :class:`LedgerConflictError` after ``MAX_ATTEMPTS`` rounds.
        """
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        partition = check_key(_partition(observed.source), "key source")
        fresh = _snapshot_entity(observed)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            stored: StoredEntity | None = read_entity(self.table, partition, _SNAPSHOT_ROW)
            previous = _snapshot_from(stored.properties) if stored else None
            event: DriftEvent | None = None
            operations: list[tuple[str, Mapping[str, Any]] | tuple[str, Mapping[str, Any], Mapping[str, Any]]]
            if stored is None or previous is None:
                kind: TransitionKind = "baseline"
                operations = [("create", {**fresh, "PartitionKey": partition, "RowKey": _SNAPSHOT_ROW})]
            elif previous.checked_at >= observed.fetched_at:
                return Transition(kind="stale", previous=previous, event=None, attempts=attempt)
            else:
                guard = {"etag": stored.etag, "match_condition": MatchConditions.IfNotModified}
                if previous.content_hash == observed.content_hash:
                    kind = "unchanged"
                    confirm = {"PartitionKey": partition, "RowKey": _SNAPSHOT_ROW,
                               "CheckedAt": format_time(observed.fetched_at)}
                    operations = [("update", confirm, {**guard, "mode": UpdateMode.MERGE})]
                else:
                    kind = "drift"
                    event = DriftEvent(
                        event_id=f"{_DRIFT_PREFIX}{format_time(observed.fetched_at)}-{observed.content_hash[:16]}",
                        source=observed.source, issuer=observed.issuer, seen_at=observed.fetched_at,
                        previous_hash=previous.content_hash, new_hash=observed.content_hash,
                        added=tuple(sorted(observed.keys - previous.keys)),
                        removed=tuple(sorted(previous.keys - observed.keys)), handled=False)
                    operations = [
                        ("update", {**fresh, "PartitionKey": partition, "RowKey": _SNAPSHOT_ROW},
                         {**guard, "mode": UpdateMode.REPLACE}),
                        ("create", {"PartitionKey": partition, "RowKey": check_key(event.event_id, "drift id"),
                                    "Source": clip(event.source), "Issuer": clip(event.issuer),
                                    "SeenAt": format_time(event.seen_at), "PreviousHash": event.previous_hash,
                                    "NewHash": event.new_hash, "Added": _keys_json(event.added, "added keys"),
                                    "Removed": _keys_json(event.removed, "removed keys"), "Handled": False}),
                    ]
            try:
                self.table.submit_transaction(operations)
            except TableTransactionError as exc:
                if exc.status_code in (409, 412):  # another timer stored first: decide again on what it stored
                    _pause(attempt)
                    continue
                if exc.status_code == 404:
                    if stored is None:  # an insert cannot miss an entity: the table itself is missing
                        raise ConfigurationError(f"key snapshots: table {self.table.table_name} does not exist") \
                            from None
                    _pause(attempt)  # the snapshot was deleted since we read it: decide again
                    continue
                raise
            return Transition(kind=kind, previous=previous, event=event, attempts=attempt)
        raise LedgerConflictError(f"key snapshot of {observed.source}: gave up after {MAX_ATTEMPTS} conflicting "
                                  f"writes to {self.table.table_name}")


def key_snapshot_store(ledger: Ledger) -> KeySnapshotStore:
    """The store on *ledger*'s ``KeySnapshots`` table (opened by :func:`shared.ledger.connection.open_ledger`)."""
    if ledger.key_snapshots is None:
        raise ConfigurationError("this ledger was opened without its KeySnapshots table")
    return KeySnapshotStore(ledger.key_snapshots)
