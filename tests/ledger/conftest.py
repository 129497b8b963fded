"""Fixtures for the ledger tests; Azurite-backed ones come from ``tests.support.azurite``."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.support.findings import T0


@pytest.fixture
def t0() -> datetime:
    """A fixed instant: ledger tests pass time in, they never read the clock."""
    return T0
