"""Key history: which keys an issuer has rotated out, and until when each was published.

A token signed with a key that its issuer no longer publishes is not forged if the key was still published when
the token was issued: keys roll over (Microsoft identity platform, "Signing key rollover", MicrosoftDocs/entra-docs
``docs/identity-platform/signing-key-rollover.md``) while tokens they signed stay valid until they expire. The
key-drift job records every change of a watched key set (:mod:`shared.ledger.key_snapshot_store`); a key removed
from a set was published until that drift was seen. The ``unpublished-signing-key`` rule takes the result as
``<owner>|<key id>|<ISO 8601 UTC time>`` strings, the owner spelt as for ``published_keys``
(:meth:`shared.detect.keys.intel.KeyIntelligence.published_keys`): the issuer, or both Entra issuer templates for a
key set without issuers, or ``appid=<appId>`` for an app's own key set (``…/keys?appid=``), so a retired key still
counts only for its owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from shared.detect.keys.jwks import PublishedKey

__all__ = ["Drift", "RemovedKey", "RetiredKey", "owners_of", "retired_from_drift", "retired_from_snapshots"]


@dataclass(frozen=True, order=True, kw_only=True)
class RetiredKey:
    """A key id (kid or x5t) that ``owner`` published until ``published_until``, and publishes no more."""

    owner: str
    key_id: str
    published_until: datetime

    @property
    def parameter_value(self) -> str:
        until = self.published_until.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return f"{self.owner}|{self.key_id}|{until}"


def owners_of(issuer: str | None, source: str) -> tuple[str, ...]:
    """Who a key from *source* signs for: ``appid=<appId>`` for an app's own key set, else its issuer, else both
    Entra issuer templates (a v1 key set names no issuer)."""
    from shared.detect.keys.intel import ENTRA_ISSUER_TEMPLATES

    app_ids = parse_qs(urlsplit(source).query).get("appid")
    if app_ids:
        return (f"appid={app_ids[0]}",)
    if issuer:
        return (issuer,)
    return ENTRA_ISSUER_TEMPLATES


class RemovedKey(Protocol):
    @property
    def kid(self) -> str: ...
    @property
    def x5t(self) -> str | None: ...


class Drift(Protocol):
    """What :func:`retired_from_drift` reads from a stored change (``shared.ledger.key_snapshot_store.DriftEvent``;
    detection does not import the ledger)."""

    @property
    def source(self) -> str: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def seen_at(self) -> datetime: ...
    @property
    def removed(self) -> Sequence[RemovedKey]: ...


def retired_from_drift(events: Iterable[Drift], *, published_now: Iterable[str] = ()) -> tuple[RetiredKey, ...]:
    """Every key some drift removed, with the last time it was seen published; a key published again since (in
    *published_now*, ``<owner>|<key id>`` strings) is not retired, and a key removed twice keeps its later removal.
    """
    sightings = ((owner, key_id, event.seen_at) for event in events for key in event.removed
                 for key_id in (key.kid, key.x5t) for owner in owners_of(event.issuer, event.source))
    return _retired(sightings, published_now)


def retired_from_snapshots(snapshots: Iterable[tuple[datetime, Iterable[PublishedKey]]], *,
                           published_now: Iterable[str]) -> tuple[RetiredKey, ...]:
    """Offline key history: earlier copies of watched key sets (``hunt --jwks-history TIME=FILE``), each with the
    last time it was seen published. A key in a copy that is not published now (``<owner>|<key id>`` in
    *published_now*) was published until that copy's time; the latest copy holding it counts."""
    sightings = ((owner, key_id, seen_at) for seen_at, keys in snapshots for key in keys
                 for key_id in (key.kid, key.x5t)
                 for owner in ((f"appid={key.app_id}",) if key.app_id else owners_of(key.issuer, key.source)))
    return _retired(sightings, published_now)


def _retired(sightings: Iterable[tuple[str, str | None, datetime]], published_now: Iterable[str]) -> tuple[
        RetiredKey, ...]:
    """The latest time each (owner, key id) was seen published, for keys its owner does not publish now."""
    current = set(published_now)
    latest: dict[tuple[str, str], datetime] = {}
    for owner, key_id, seen_at in sightings:
        if key_id and f"{owner}|{key_id}" not in current and (
                (owner, key_id) not in latest or seen_at > latest[(owner, key_id)]):
            latest[(owner, key_id)] = seen_at
    return tuple(sorted(RetiredKey(owner=owner, key_id=key_id, published_until=at)
                        for (owner, key_id), at in latest.items()))
