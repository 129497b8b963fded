"""A session-wide Azurite, and ledgers on it, for the tests that need Table Storage.

Test modules opt in with ``pytest_plugins = ("tests.support.azurite",)``, and import helpers from
``tests.support.ledgers``, never from here (pytest could no longer rewrite this module's asserts).
pytest registers a plugin module once, so however many modules opt in, one Azurite starts (when a
test first asks for it) and is stopped when the session ends. Each ``ledger`` gets tables of its
own, so tests never see each other's cases and can run in any order.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.core.settings import load_settings
from shared.ledger.connection import Ledger, LedgerTableNames, open_ledger
from tests.support.ledgers import LedgerFactory, unique_table_names
from tools.azurite import CONNECTION_SETTING, Azurite, AzuriteEndpoints, AzuriteError


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteEndpoints]:
    instance = Azurite()
    try:
        endpoints = instance.start()
    except AzuriteError as exc:
        pytest.fail(f"Azurite did not start ({exc}); run `make node-deps`", pytrace=False)
    try:
        yield endpoints
    finally:
        instance.stop()


@pytest.fixture
def storage_environment(azurite: AzuriteEndpoints) -> dict[str, str]:
    """App settings that point the ledger at the test Azurite."""
    return {CONNECTION_SETTING: azurite.connection_string}


@pytest.fixture
def ledger_names() -> LedgerTableNames:
    return unique_table_names()


@pytest.fixture
def ledger_factory(storage_environment: dict[str, str], ledger_names: LedgerTableNames) -> Iterator[LedgerFactory]:
    """Opens ledgers, each a separate client as a separate scan would have, on this test's tables or on
    the *names* given; closes them and drops every table they used afterwards."""
    opened: list[tuple[Ledger, LedgerTableNames]] = []

    def factory(names: LedgerTableNames | None = None) -> Ledger:
        names = names or ledger_names
        ledger = open_ledger(load_settings(storage_environment), names=names)
        opened.append((ledger, names))
        return ledger

    yield factory
    for names in dict.fromkeys(names for _, names in opened):
        for name in (names.cases, names.findings, names.checkpoints, names.actions):
            opened[0][0].service.delete_table(name)
    for ledger, _ in opened:
        ledger.close()


@pytest.fixture
def ledger(ledger_factory: LedgerFactory) -> Ledger:
    return ledger_factory()
