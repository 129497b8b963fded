"""SQL text helpers: identifier and string quoting, and Kusto-to-DuckDB type names.

Every piece of SQL the workspace builds from a name it did not write (a column
in an export file, a table name, a file path) goes through :func:`ident` or
:func:`string`, which make the text inert by doubling the quote character.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType

__all__ = ["DUCKDB_TYPES", "ident", "string", "timestamp"]

DUCKDB_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "bool": "BOOLEAN",
        "datetime": "TIMESTAMP",
        "decimal": "DECIMAL(38, 18)",
        "dynamic": "JSON",
        "guid": "UUID",
        "int": "INTEGER",
        "long": "BIGINT",
        "real": "DOUBLE",
        "string": "VARCHAR",
        "timespan": "INTERVAL",
    }
)
"""The DuckDB column type holding each Kusto type, as duckdb-kql expects (datetime is naive UTC)."""


def ident(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def string(text: str) -> str:
    """A single-quoted SQL string literal."""
    if "\x00" in text:
        raise ValueError("NUL cannot appear in a SQL string literal")
    return "'" + text.replace("'", "''") + "'"


def timestamp(value: datetime) -> str:
    """A ``TIMESTAMP '...'`` literal for an aware datetime, as naive UTC wall time."""
    utc = value.astimezone(UTC)
    return (
        f"TIMESTAMP '{utc.year:04d}-{utc.month:02d}-{utc.day:02d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{utc.microsecond:06d}'"
    )
