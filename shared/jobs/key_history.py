"""The scan's key history: the keys the watched issuers have rotated out, from the key-drift snapshots.

``KeySnapshots`` holds every change of each watched key set (:mod:`shared.ledger.key_snapshot_store`, written by
the key-drift job). Before the rules run, the scan turns the removals into
:class:`~shared.detect.keys.history.RetiredKey` values on the hunt's key intelligence, so ``unpublished-signing-key``
does not report a token issued while its key was still published.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.detect.hunt import HuntContext
    from shared.ledger.connection import Ledger

__all__ = ["with_key_history"]


def with_key_history(context: HuntContext, ledger: Ledger) -> HuntContext:
    """*context* whose key intelligence carries the ledger's key history (unchanged without a KeySnapshots table,
    or when the intelligence already has a history)."""
    from shared.detect.keys.history import retired_from_drift
    from shared.ledger.key_snapshot_store import KeySnapshotStore

    if ledger.key_snapshots is None or context.keys.retired:
        return context
    events = KeySnapshotStore(ledger.key_snapshots).history()
    retired = retired_from_drift(events, published_now=context.keys.published_keys())
    return replace(context, keys=replace(context.keys, retired=retired))
