"""One actor per case: a lease on the case entity, claimed and renewed under its ETag.

Every way into the response path (the queue worker, an approval, a manual respond, the Sentinel intake)
claims the case before it plans or acts. The claim writes ``LeaseOwner`` (the invocation id) and
``LeaseUntil`` on the case's own entity with ``If-Match`` on the ETag it read
(:func:`shared.ledger.optimistic.read_modify_write`), so of two invocations that read the same free case,
exactly one write lands; the other sees 412, reads again, finds the lease held and loses. The contract is
Microsoft's: Merge Entity (https://learn.microsoft.com/rest/api/storageservices/merge-entity) performs the
update only when the ``If-Match`` ETag equals the one the service holds, and the Table service answers a
mismatch with 412 ``UpdateConditionNotSatisfied``
(https://learn.microsoft.com/rest/api/storageservices/table-service-error-codes); Insert Entity of a key
that exists answers 409 ``EntityAlreadyExists``.

The holder re-checks before each tenant write (:meth:`CaseLease.renew`): one read while more than half the
lease remains, a renewing write once less does. A lease that ran out (the holder died) may be claimed by
anyone; the old holder's next re-check then raises :class:`LeaseLostError` and it stops before writing.
The lease lasts longer than any one step may take (a step's retries stop at two minutes), so a holder that
re-checked cannot see its lease run out before the step it checked for has been sent.

The holder keeps the case entity as it last read or wrote it, with its ETag (:attr:`CaseLease.seen`), so its
own writes to the case (the engine's transitions, the release) start from that version instead of reading it
again. Such a write that lands on the version the holder saw (``If-Match``) proves nobody wrote the case since,
so the lease is still this holder's: the next re-check is then that proof (:meth:`CaseLease.confirmed`), not
another read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.errors import DataError, TokenwardenError
from shared.ledger.codec import format_time, parse_time
from shared.ledger.optimistic import StoredEntity, read_entity, read_modify_write

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["LEASE_CLEARED", "LEASE_SECONDS", "CaseLease", "Claim", "LeaseLostError", "lease_holder"]

LEASE_SECONDS = 300.0
"""Five minutes: more than twice a step's longest retry budget (120 s), well under the 10-minute
``functionTimeout``, so a dead holder's case is free again within one scan interval."""
_CASE = "case"
LEASE_CLEARED: Mapping[str, str] = {"LeaseOwner": "", "LeaseUntil": ""}
"""The properties that free a case's lease."""


class LeaseLostError(TokenwardenError):
    """Another invocation holds the case now; this one must not write to the tenant for it."""


@dataclass(frozen=True, kw_only=True)
class Claim:
    held: bool
    """This owner holds the lease now."""
    holder: str | None
    """Who holds it (this owner when ``held``)."""
    until: datetime | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


def lease_holder(properties: Mapping[str, Any], now: datetime) -> tuple[str, datetime] | None:
    """The live lease on a stored case entity: (owner, until), or None if it is free or ran out."""
    owner = str(properties.get("LeaseOwner") or "")
    raw = properties.get("LeaseUntil")
    if not owner or not raw:
        return None
    until = parse_time(str(raw), "LeaseUntil")
    return (owner, until) if until > now else None


@dataclass
class CaseLease:
    """The lease of one case for one owner; every method is one ETag-guarded read-modify-write or one read."""

    table: TableClient
    case_id: str
    owner: str
    seconds: float = LEASE_SECONDS
    clock: Callable[[], datetime] = field(default=_utcnow)
    seen: StoredEntity | None = field(default=None, init=False)
    """The case entity as this holder last read or wrote it (its ETag included)."""
    _until: datetime | None = field(default=None, init=False)
    _proven: bool = field(default=False, init=False)

    def claim(self) -> Claim:
        """Take the lease if it is free, ran out, or is already ours (then it is extended)."""
        outcome: list[Claim] = []
        now = self.clock()

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            outcome.clear()
            if stored is None:
                raise DataError(f"there is no case {self.case_id}")
            live = lease_holder(stored.properties, now)
            if live is not None and live[0] != self.owner:
                outcome.append(Claim(held=False, holder=live[0], until=live[1]))
                return None
            until = now + timedelta(seconds=self.seconds)
            outcome.append(Claim(held=True, holder=self.owner, until=until))
            return {"LeaseOwner": self.owner, "LeaseUntil": format_time(until)}

        result = read_modify_write(self.table, _CASE, self.case_id, decide, what=f"lease of case {self.case_id}",
                                   known=self.seen)
        self.seen, self._proven = result.stored, False
        claim = outcome[0]
        self._until = claim.until if claim.held else None
        return claim

    def confirmed(self, written: StoredEntity, *, on_seen: bool) -> None:
        """The holder wrote the case: *written* is the entity now. *on_seen*: the write landed on :attr:`seen`
        (``If-Match`` on the version this holder last saw), which proves the lease still ours at that instant."""
        self._proven = on_seen and self._until is not None
        self.seen = written

    def renew(self) -> None:
        """Before a tenant write: still ours? Extend it when half is spent; raise LeaseLostError if not ours."""
        now = self.clock()
        proven, self._proven = self._proven, False  # a proof serves one re-check
        if self._until is not None and (self._until - now).total_seconds() > self.seconds / 2:
            if proven:
                return
            stored = read_entity(self.table, _CASE, self.case_id)
            self.seen = stored
            live = lease_holder(stored.properties, now) if stored is not None else None
            if live is not None and live[0] == self.owner:
                return
        claim = self.claim()
        if not claim.held:
            raise LeaseLostError(f"case {self.case_id}: the lease was taken over by {claim.holder} "
                                 f"(this invocation, {self.owner}, stops before writing)")

    def release(self) -> None:
        """Free the lease if it is still ours, so the next delivery need not wait for it to run out."""

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is None or str(stored.properties.get("LeaseOwner") or "") != self.owner:
                return None
            return LEASE_CLEARED

        read_modify_write(self.table, _CASE, self.case_id, decide, what=f"lease of case {self.case_id}",
                          known=self.seen)
        self.released()

    def released(self) -> None:
        """The lease is no longer held (freed by :meth:`release` or by a write that cleared it)."""
        self._until, self.seen, self._proven = None, None, False
