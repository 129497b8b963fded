"""The Log Analytics table schemas the rules query, loaded from ``shared/schemas/*.json``.

The schemas are package data rather than code so that they can be refreshed
from Microsoft's published reference without touching Python. Columns every
Log Analytics table carries are missing from some of the published documents:
``TenantId`` and ``Type``, and the standard ``_TimeReceived`` (when the record
reached the ingestion point; https://learn.microsoft.com/azure/azure-monitor/logs/log-standard-columns).
They are added here so a rule that reads them runs the same locally as in a
workspace; the embedded workspace takes a row's arrival time from ``_TimeReceived``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

from shared.core.errors import DataError

__all__ = ["KUSTO_TYPES", "Column", "TableSchema", "load_table_schemas"]

KUSTO_TYPES = frozenset({"bool", "datetime", "decimal", "dynamic", "guid", "int", "long", "real", "string", "timespan"})
"""The scalar type names a schema document may use, spelled the way Kusto reports them."""

_ALWAYS_PRESENT = (("TenantId", "string"), ("Type", "string"), ("_TimeReceived", "datetime"))


@dataclass(frozen=True)
class Column:
    """One column: its name and its Kusto type (``string``, ``datetime``, ``dynamic`` ...)."""

    name: str
    kusto_type: str


@dataclass(frozen=True)
class TableSchema:
    """A table's name and its columns in document order (plus ``TenantId``/``Type``/``_TimeReceived`` when missing)."""

    name: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column | None:
        """The column called ``name`` (exact spelling), or None."""
        for column in self.columns:
            if column.name == name:
                return column
        return None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


def load_table_schemas() -> Mapping[str, TableSchema]:
    """Every bundled table schema, keyed by table name. Read once per process, then cached."""
    return _load()


@cache
def _load() -> Mapping[str, TableSchema]:
    schemas: dict[str, TableSchema] = {}
    folder = resources.files("shared").joinpath("schemas")
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if not entry.name.endswith(".json"):
            continue
        location = f"shared/schemas/{entry.name}"
        schema = _parse(entry.read_text(encoding="utf-8"), location)
        if schema.name in schemas:
            raise DataError(f"table {schema.name!r} is defined twice", location=location)
        schemas[schema.name] = schema
    return MappingProxyType(schemas)


def _parse(text: str, location: str) -> TableSchema:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg}", location=f"{location}:{exc.lineno}") from None
    if not isinstance(document, dict):
        raise DataError("expected an object with 'table' and 'columns'", location=location)
    name = document.get("table")
    raw_columns = document.get("columns")
    if not isinstance(name, str) or not name:
        raise DataError("'table' must be a non-empty string", location=location)
    if not isinstance(raw_columns, list):
        raise DataError("'columns' must be a list", location=location)
    columns: list[Column] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_columns):
        column = _parse_column(raw, f"{location} column {index + 1}")
        if column.name in seen:
            raise DataError(f"column {column.name!r} is listed twice", location=location)
        seen.add(column.name)
        columns.append(column)
    for extra_name, extra_type in _ALWAYS_PRESENT:
        if extra_name not in seen:
            columns.append(Column(extra_name, extra_type))
    return TableSchema(name=name, columns=tuple(columns))


def _parse_column(raw: object, location: str) -> Column:
    if not isinstance(raw, dict):
        raise DataError("expected an object with 'name' and 'type'", location=location)
    name, kusto_type = raw.get("name"), raw.get("type")
    if not isinstance(name, str) or not name:
        raise DataError("'name' must be a non-empty string", location=location)
    if not isinstance(kusto_type, str) or kusto_type not in KUSTO_TYPES:
        raise DataError(f"column {name!r} has unknown type {kusto_type!r}", location=location)
    return Column(name, kusto_type)
