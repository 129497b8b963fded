"""Opening the ledger's tables from settings: the app's identity in Azure, a connection string locally.

In Azure the Functions host reaches its storage account through an identity-based connection
(``AzureWebJobsStorage__tableServiceUri`` with ``__credential=managedidentity`` and ``__clientId``), and
the ledger uses the same account and identity, so no account key exists anywhere. Locally
``AzureWebJobsStorage`` holds Azurite's connection string. Bicep creates the tables in Azure; against
a connection string (Azurite) they are created on first use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigurationError
from shared.core.resource_names import (
    TABLE_ACTIONS,
    TABLE_CASES,
    TABLE_CHECKPOINTS,
    TABLE_FINDINGS,
    TABLE_KEY_SNAPSHOTS,
)
from shared.core.settings import Settings

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

__all__ = ["Ledger", "LedgerTableNames", "open_ledger", "table_service_client"]

_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")


@dataclass(frozen=True, kw_only=True)
class LedgerTableNames:
    """The tables' names; tests pass their own to work side by side in one Azurite."""

    cases: str = TABLE_CASES
    findings: str = TABLE_FINDINGS
    checkpoints: str = TABLE_CHECKPOINTS
    actions: str = TABLE_ACTIONS
    key_snapshots: str = TABLE_KEY_SNAPSHOTS

    def __post_init__(self) -> None:
        for name in (self.cases, self.findings, self.checkpoints, self.actions, self.key_snapshots):
            if not _TABLE_NAME.fullmatch(name) or name.lower() == "tables":
                raise ConfigurationError(f"{name!r} is not a valid table name (3-63 letters and digits)")


@dataclass(frozen=True, kw_only=True)
class Ledger:
    """The tables, open on one service client; close it when the run ends.

    ``key_snapshots`` is None only on a Ledger built by hand without it (``open_ledger`` always opens it).
    """

    service: TableServiceClient
    cases: TableClient
    findings: TableClient
    checkpoints: TableClient
    actions: TableClient
    key_snapshots: TableClient | None = None

    def close(self) -> None:
        for table in (self.cases, self.findings, self.checkpoints, self.actions, self.key_snapshots):
            if table is not None:
                table.close()
        self.service.close()


def table_service_client(settings: Settings, *, client_options: Mapping[str, Any] | None = None) -> TableServiceClient:
    """A client for the configured account: the connection string if set, else the endpoint and identity.

    *client_options* go to the azure-core pipeline (the benchmark passes ``raw_request_hook`` and
    ``raw_response_hook`` to count the ledger's round trips at this boundary)."""
    from azure.data.tables import TableServiceClient

    options = dict(client_options or {})
    if settings.storage_connection_string:
        try:
            return TableServiceClient.from_connection_string(settings.storage_connection_string, **options)
        except ValueError as exc:
            # The message must not echo the string: it may hold an account key.
            raise ConfigurationError(f"AzureWebJobsStorage is not a usable connection string ({exc})") from None
    if settings.table_service_uri:
        from azure.identity import DefaultAzureCredential

        if not settings.table_service_uri.startswith(("https://", "http://")):
            raise ConfigurationError(
                f"AzureWebJobsStorage__tableServiceUri is {settings.table_service_uri!r}; expected an https:// URL"
            )
        credential = DefaultAzureCredential(managed_identity_client_id=settings.storage_client_id or None)
        return TableServiceClient(endpoint=settings.table_service_uri, credential=credential, **options)
    raise ConfigurationError(
        "the ledger has no storage: set AzureWebJobsStorage__tableServiceUri (Azure, identity-based) or "
        "AzureWebJobsStorage (a connection string, such as Azurite's from `python -m tools.azurite run`)"
    )


def open_ledger(settings: Settings, *, names: LedgerTableNames | None = None,
                create_tables: bool | None = None, client_options: Mapping[str, Any] | None = None) -> Ledger:
    """The ledger's tables. ``create_tables`` defaults to creating them only on a connection string."""
    names = names or LedgerTableNames()
    service = table_service_client(settings, client_options=client_options)
    create = bool(settings.storage_connection_string) if create_tables is None else create_tables
    try:
        tables = [service.create_table_if_not_exists(name) if create else service.get_table_client(name)
                  for name in (names.cases, names.findings, names.checkpoints, names.actions, names.key_snapshots)]
    except Exception:
        service.close()
        raise
    return Ledger(service=service, cases=tables[0], findings=tables[1], checkpoints=tables[2], actions=tables[3],
                  key_snapshots=tables[4])
