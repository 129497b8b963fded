"""The ``key_drift`` timer's work: diff the issuers' JWKS against the last snapshot, and act on removed keys.

1. :func:`shared.detect.keys.drift.check_key_drift` reads every configured key source and stores what changed as drift
   rows in ``KeySnapshots`` (unhandled).
2. Every unhandled drift row, this run's and any a failed earlier run left, is owed something. Rows that only
   added keys are owed nothing (the next scan reads the new key set live) and are marked handled. Rows that
   removed keys, which apps may still cache, get one :func:`shared.respond.key_refresh.refresh_registered_apps` for all
   of them together, keyed by their row ids; they are marked handled only when every target is done.
3. A run that dies after refreshing but before marking replays under the same ids and skips the targets
   already refreshed; one whose refresh failed leaves the rows unhandled and the next run retries the failed
   targets only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.core.settings import Settings
from shared.ledger.connection import Ledger

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.detect.keys.discovery import JwksFetcher
    from shared.detect.keys.drift import DriftReport
    from shared.respond.key_refresh import RefreshReport

__all__ = ["KeyDriftRun", "run_key_drift"]


@dataclass(frozen=True, kw_only=True)
class KeyDriftRun:
    """``drift``: the check; ``refresh``: the key-cache refresh, if any removal was owed one; ``handled``:
    drift rows marked handled now; ``pending``: rows still owed a refresh (failed or dry run)."""

    drift: DriftReport
    refresh: RefreshReport | None
    handled: tuple[str, ...]
    pending: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "issuers_checked": len(self.drift.issuers_checked), "baselined": list(self.drift.baselined),
            "added": sorted({c.kid for c in self.drift.added}), "removed": sorted({c.kid for c in self.drift.removed}),
            "failures": [f"{f.source}: {f.message}" for f in self.drift.failures],
            "refresh": self.refresh.to_json() if self.refresh else None,
            "handled": list(self.handled), "pending": list(self.pending),
        }


def run_key_drift(settings: Settings, ledger: Ledger, *, now: datetime, invocation_id: str = "",
                  fetcher: JwksFetcher | None = None, credential: TokenCredential | None = None) -> KeyDriftRun:
    """Check drift, refresh the registered apps for removed keys, mark what was handled."""
    from shared.detect.keys.drift import check_key_drift, configured_key_sources
    from shared.ledger.key_snapshot_store import key_snapshot_store
    from shared.respond.key_refresh import refresh_registered_apps

    store = key_snapshot_store(ledger)
    drift = check_key_drift(configured_key_sources(settings), store, now=now, fetcher=fetcher)
    owed = store.unhandled()
    handled: list[str] = []
    for event in owed:
        if not event.removed:
            store.mark_handled(event, at=now)
            handled.append(event.event_id)
    removals = [event for event in owed if event.removed]
    if not removals:
        return KeyDriftRun(drift=drift, refresh=None, handled=tuple(handled), pending=())
    kids = sorted({key.kid for event in removals for key in event.removed})
    seed = "\n".join(sorted(f"{event.source}\x1f{event.event_id}" for event in removals))
    issuers = sorted({event.issuer or event.source for event in removals})
    refresh = refresh_registered_apps(settings, ledger, kids=kids, event_id_seed=seed, now=now, case_prefix="drift",
                                      reason=f"key drift: {len(kids)} key(s) no longer published by "
                                             f"{', '.join(issuers)}",
                                      invocation_id=invocation_id, credential=credential)
    if not refresh.complete:
        return KeyDriftRun(drift=drift, refresh=refresh, handled=tuple(handled),
                           pending=tuple(event.event_id for event in removals))
    for event in removals:
        store.mark_handled(event, at=now)
        handled.append(event.event_id)
    return KeyDriftRun(drift=drift, refresh=refresh, handled=tuple(handled), pending=())
