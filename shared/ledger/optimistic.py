"""Read-modify-write of one entity under ETag optimistic concurrency.

The caller's ``decide`` sees the entity as stored (or None) and returns the properties to write, or
None when nothing needs writing. A missing entity is created with Insert, which fails if another
writer got there first (409 EntityAlreadyExists); an existing one is merged with ``If-Match`` set to
the ETag it was read with, which fails if it changed since (412 UpdateConditionNotSatisfied). Either
failure means another writer won the race: read again, decide again on what that writer stored, and
try again. Nothing is ever written over a version the caller did not see.

A caller that already holds the entity with its ETag (a case it claimed a moment ago) passes it as ``known``:
the first round then decides on that version without reading it again, and if it is stale the guarded write
fails (412) and the next round reads as usual. A decision to write nothing is never taken on a remembered
version (it has no ETag check to catch a stale one): the entity is read and decided on again.

A write's answer carries the entity's new ETag (Merge Entity and Insert Entity return it in the ``ETag``
header: https://learn.microsoft.com/rest/api/storageservices/merge-entity,
https://learn.microsoft.com/rest/api/storageservices/insert-entity), so a holder can keep writing without
reading between its writes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigurationError, TokenwardenError
from shared.ledger.codec import check_key

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["ABSENT", "MAX_ATTEMPTS", "LedgerConflictError", "StoredEntity", "WriteResult", "read_entity",
           "read_modify_write"]

MAX_ATTEMPTS = 40
"""Conflicts only come from writers racing on the same entity; 40 rounds with jittered backoff is
far beyond what a handful of concurrent scans produce, and still ends a pathological livelock."""


class LedgerConflictError(TokenwardenError):
    """An entity kept changing under us for MAX_ATTEMPTS rounds."""


@dataclass(frozen=True, kw_only=True)
class StoredEntity:
    properties: Mapping[str, Any]
    etag: str


@dataclass(frozen=True, kw_only=True)
class WriteResult:
    """``created``: this call inserted the entity. ``written``: it wrote anything. ``properties``: the
    entity as it now stands (as this writer last read or wrote it), ``etag`` its version then ("" if there is
    none). ``read``: how many times it was read (0 when the caller's ``known`` version was current)."""

    created: bool
    written: bool
    properties: Mapping[str, Any]
    attempts: int
    etag: str = ""
    reads: int = 1

    @property
    def stored(self) -> StoredEntity | None:
        """The entity as this writer now knows it, to pass as ``known`` to its next write (None if absent)."""
        return StoredEntity(properties=self.properties, etag=self.etag) if self.etag else None


Decide = Callable[[StoredEntity | None], Mapping[str, Any] | None]
ABSENT = StoredEntity(properties={}, etag="")
"""Passed as ``known``: the caller read that there is no such entity (it is inserted without reading first)."""


def read_entity(table: TableClient, partition_key: str, row_key: str) -> StoredEntity | None:
    """The entity, or None. Both keys are checked against Table Storage's key rules first (DataError), so a key
    from a caller (a case id with ``/``, say) is refused here rather than answered 400 by the service and raised
    as an HTTP error from deep inside a worker. Every read-modify-write starts here."""
    from azure.core.exceptions import ResourceNotFoundError

    check_key(partition_key, "partition key")
    check_key(row_key, "row key")
    try:
        entity = table.get_entity(partition_key, row_key)
    except ResourceNotFoundError:
        return None
    properties = {k: v for k, v in entity.items() if k not in ("PartitionKey", "RowKey")}
    return StoredEntity(properties=properties, etag=str(entity.metadata["etag"]))


def _pause(attempt: int) -> None:
    """Jittered backoff, so writers that collided do not collide again in lockstep."""
    time.sleep(random.uniform(0, min(0.005 * 2 ** min(attempt, 6), 0.25)))  # noqa: S311 - jitter, not crypto


def read_modify_write(table: TableClient, partition_key: str, row_key: str, decide: Decide, *, what: str,
                      attempts: int = MAX_ATTEMPTS, known: StoredEntity | None = None) -> WriteResult:
    """Apply *decide* to the entity until a write lands on the version it was decided on.

    *known*: the entity as the caller last saw it; the first round decides on it instead of reading."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    check_key(partition_key, "partition key")
    check_key(row_key, "row key")
    reads = 0
    for attempt in range(1, attempts + 1):
        if attempt == 1 and known is not None:
            stored: StoredEntity | None = None if known is ABSENT else known
        else:
            stored = read_entity(table, partition_key, row_key)
            reads += 1
        wanted = decide(stored)
        if wanted is None and reads == 0:
            continue  # "nothing to write" is only ever decided on a version read now, never on a remembered one
        if wanted is None:
            return WriteResult(created=False, written=False, properties=stored.properties if stored else {},
                               attempts=attempt, etag=stored.etag if stored else "", reads=reads)
        entity = {**wanted, "PartitionKey": partition_key, "RowKey": row_key}
        try:
            if stored is None:
                answer = table.create_entity(entity)
            else:
                answer = table.update_entity(entity, mode=UpdateMode.MERGE, etag=stored.etag,
                                             match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            # Inserted or changed by another writer since we read it: decide again on what it stored.
            _pause(attempt)
            continue
        except ResourceNotFoundError:
            if stored is None:  # an insert cannot miss an entity: the table itself is missing
                raise ConfigurationError(f"{what}: table {table.table_name} does not exist") from None
            _pause(attempt)  # deleted since we read it: decide again
            continue
        merged = {**(stored.properties if stored else {}), **wanted}
        return WriteResult(created=stored is None, written=True, properties=merged, attempts=attempt,
                           etag=str(answer.get("etag") or ""), reads=reads)
    raise LedgerConflictError(f"{what}: gave up after {attempts} conflicting writes to {table.table_name} "
                              f"{partition_key}/{row_key}")
