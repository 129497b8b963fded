"""The process environment a function reads when a test calls it, and the output bindings the host hands it.

The functions read settings from ``os.environ`` and open the ledger by its default table names; tests share
one Azurite, so each test's functions are pointed at that test's own tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import azure.functions as func
import pytest

from shared.core.settings import (
    DEPLOYMENT_SETTINGS,
    HOST_STORAGE_SETTINGS,
    LOCAL_ONLY_SETTINGS,
    PLATFORM_SETTINGS,
    SETTINGS,
)
from shared.ledger import connection
from shared.ledger.connection import LedgerTableNames


def clear_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every setting Tokenwarden reads, so nothing from the developer's shell leaks into a test."""
    for spec in (*SETTINGS, *DEPLOYMENT_SETTINGS, *HOST_STORAGE_SETTINGS, *PLATFORM_SETTINGS, *LOCAL_ONLY_SETTINGS):
        monkeypatch.delenv(spec.name, raising=False)


def set_function_environment(monkeypatch: pytest.MonkeyPatch, environment: Mapping[str, str],
                             ledger_names: LedgerTableNames) -> None:
    """Exactly *environment* as app settings, and the functions' ledger opened on *ledger_names*."""
    clear_settings(monkeypatch)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    real_open = connection.open_ledger

    def open_test_ledger(settings, *, names=None, create_tables=None):  # type: ignore[no-untyped-def]
        return real_open(settings, names=ledger_names, create_tables=create_tables)

    monkeypatch.setattr(connection, "open_ledger", open_test_ledger)


class QueueOutput(func.Out[list[str]]):
    """A queue output binding as the host hands it over: set() once per invocation."""

    def __init__(self) -> None:
        self.value: list[str] | None = None

    def set(self, val: list[str]) -> None:
        self.value = val

    def get(self) -> list[str]:
        return self.value or []


CLOSED_PORT = "http://127.0.0.1:9"
"""Graph and ARM point here (nothing listens) in offline runs: no request can reach a real service."""


def set_offline_environment(monkeypatch: pytest.MonkeyPatch, logs_environment: Mapping[str, str],
                            ledger_names: LedgerTableNames, **extra: str) -> None:
    """The functions on *logs_environment* (demo logs and Azurite), dry-run, with Graph and ARM unreachable."""
    set_function_environment(monkeypatch, {**logs_environment, "GRAPH_ENDPOINT": CLOSED_PORT,
                                           "ARM_ENDPOINT": CLOSED_PORT, "RESPONSE_MODE": "dry-run", **extra},
                             ledger_names)
