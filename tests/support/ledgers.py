"""Helpers for tests that open ledgers: the factory's type and fresh table names."""

from __future__ import annotations

import uuid
from typing import Protocol

from shared.ledger.connection import Ledger, LedgerTableNames


class LedgerFactory(Protocol):
    def __call__(self, names: LedgerTableNames | None = None) -> Ledger: ...


def unique_table_names() -> LedgerTableNames:
    suffix = uuid.uuid4().hex[:16]
    return LedgerTableNames(cases=f"Cases{suffix}", findings=f"Findings{suffix}", checkpoints=f"Checkpoints{suffix}",
                            actions=f"Actions{suffix}")
