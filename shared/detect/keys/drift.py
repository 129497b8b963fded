"""Key drift: which signing keys the watched issuers added or removed since the last check.

:func:`check_key_drift` reads every configured key source (an OpenID discovery URL, or a JWKS file) once,
bypassing any cache, and stores what it read as that source's snapshot in the ``KeySnapshots`` table
(:mod:`shared.ledger.key_snapshot_store`), which records the difference from the stored snapshot. The
first check of a source is its baseline: stored, never reported as drift.

A source that cannot be read, or that answers with no keys at all, is a failure: it is reported, and
its snapshot is left as it was. Reading an outage as "every key was removed" would send a key-cache
refresh to every registered app and, at the next successful read, report every key as added.

**The next scan uses the new key set.** A scan reads the issuers' keys live each time it runs:
:func:`shared.jobs.wiring.build_key_intelligence` builds a new :class:`~shared.detect.keys.discovery.JwksFetcher` (and
so an empty cache) per scan, and the key list it hands the ``unpublished-signing-key`` rule is what the
endpoints publish at that moment. There is no cross-run key cache to invalidate, and the scan does not
read the snapshot; the snapshot is the drift timer's memory only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from shared.ledger.key_snapshot_store import DriftEvent, KeyChange, KeySnapshot, SnapshotKey

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.detect.keys.discovery import JwksFetcher
    from shared.detect.keys.jwks import PublishedKey
    from shared.ledger.key_snapshot_store import KeySnapshotStore

__all__ = ["DriftReport", "SourceFailure", "check_key_drift", "configured_key_sources", "read_key_source"]


@dataclass(frozen=True, kw_only=True)
class SourceFailure:
    source: str
    message: str


@dataclass(frozen=True, kw_only=True)
class DriftReport:
    """One drift check. ``issuers_checked``: the sources read and stored; ``baselined``: those seen for
    the first time (stored, no drift); ``added`` and ``removed``: the keys that changed, over all sources
    (``removed`` is what apps may still cache: hand it to ``refresh_app_key_cache``); ``events``: the
    drift rows stored (mark them handled once the refresh ran); ``failures``: sources not read, whose
    snapshots were left untouched."""

    now: datetime
    issuers_checked: tuple[str, ...]
    baselined: tuple[str, ...]
    added: tuple[KeyChange, ...]
    removed: tuple[KeyChange, ...]
    events: tuple[DriftEvent, ...]
    failures: tuple[SourceFailure, ...]

    @property
    def complete(self) -> bool:
        return not self.failures

    @property
    def drifted(self) -> bool:
        return bool(self.added or self.removed)


def _is_url(source: str) -> bool:
    return source.startswith(("https://", "http://"))


def configured_key_sources(settings: Settings) -> tuple[str, ...]:
    """``KEY_SOURCES`` if set, else Entra's discovery documents (common, organizations, consumers, and
    the tenant's own v1 and v2 when ``ENTRA_TENANT_ID`` is set): the same sources a scan reads."""
    from shared.detect.keys.discovery import default_discovery_urls

    if settings.key_sources:
        return tuple(dict.fromkeys(settings.key_sources))
    return tuple(default_discovery_urls(settings.entra_tenant_id or None, settings.cloud.authority_host))


def read_key_source(source: str, fetcher: JwksFetcher) -> tuple[PublishedKey, ...]:
    """The keys one source publishes now; raises (UpstreamError, DataError) when it cannot be read."""
    from shared.detect.keys.jwks import read_jwks_file

    return fetcher.keys_for(source) if _is_url(source) else read_jwks_file(Path(source))


def _issuer(source: str, keys: Sequence[PublishedKey]) -> str | None:
    issuers = {key.issuer for key in keys if key.issuer}
    return issuers.pop() if len(issuers) == 1 else None


def check_key_drift(sources: Sequence[str], store: KeySnapshotStore, *, now: datetime,
                    fetcher: JwksFetcher | None = None) -> DriftReport:
    """Read each of *sources*, store its snapshot in *store*, and report what changed since the last one.

    :param sources: discovery URLs and JWKS files (:func:`configured_key_sources`).
    :param now: the check's time (UTC-aware): the snapshots' ``fetched_at`` and the drift's ``seen_at``.
    :keyword fetcher: reads discovery documents and JWKS; by default one with a 10 s timeout and no cache.
    A source that fails, or publishes no keys, is in ``failures`` and its snapshot is not touched.
    """
    from shared.detect.keys.discovery import JwksFetcher

    reader = fetcher or JwksFetcher(timeout=10.0, ttl=timedelta(0))
    checked: list[str] = []
    baselined: list[str] = []
    events: list[DriftEvent] = []
    failures: list[SourceFailure] = []
    for source in dict.fromkeys(sources):
        try:
            keys = read_key_source(source, reader)
        except Exception as exc:  # one issuer's failure must not stop the others
            failures.append(SourceFailure(source=source, message=str(exc) or type(exc).__name__))
            continue
        if not keys:
            failures.append(SourceFailure(source=source, message=f"{source} published no keys; "
                                          "keeping the last snapshot rather than reading it as every key removed"))
            continue
        observed = KeySnapshot.observed(source=source, issuer=_issuer(source, keys), fetched_at=now,
                                        keys=(SnapshotKey(kid=key.kid, x5t=key.x5t) for key in keys))
        transition = store.record(observed)
        checked.append(source)
        if transition.kind == "baseline":
            baselined.append(source)
        if transition.event is not None:
            events.append(transition.event)
    changes = [change for event in events for change in event.changes()]
    return DriftReport(
        now=now,
        issuers_checked=tuple(checked),
        baselined=tuple(baselined),
        added=tuple(change for change in changes if change.change == "added"),
        removed=tuple(change for change in changes if change.change == "removed"),
        events=tuple(events),
        failures=tuple(failures),
    )
