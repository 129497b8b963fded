"""DuckDB result rows as a :class:`ResultTable` with Kusto types and canonical Python values.

The canonical values are what the Log Analytics source produces from the REST
API too: aware UTC datetimes, ``timedelta`` timespans, parsed JSON for
``dynamic``, ``str`` GUIDs. Keeping both backends on one representation is what
lets a rule's output be compared across them.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from shared.detect.kql.wire import format_dynamic_datetime, format_timespan
from shared.detect.logsources.base import ResultTable

__all__ = ["kusto_type_of", "to_result_table"]


def kusto_type_of(duckdb_type: str) -> str:
    """The Kusto type name duckdb-kql reports for a DuckDB column type."""
    from duckdb_kql.types import kusto_type

    return str(kusto_type(duckdb_type))


def to_result_table(
    columns: Sequence[str],
    duckdb_types: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    name: str = "PrimaryResult",
) -> ResultTable:
    kusto_types = tuple(kusto_type_of(kind) for kind in duckdb_types)
    converters = [_CONVERTERS.get(kind, _identity) for kind in kusto_types]
    converted = tuple(
        tuple(None if value is None else convert(value) for convert, value in zip(converters, row, strict=True))
        for row in rows
    )
    return ResultTable(name=name, columns=tuple(columns), column_types=kusto_types, rows=converted)


def _identity(value: object) -> object:
    return value


def _datetime(value: object) -> object:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _dynamic(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return _json_compatible(value)


def _json_compatible(value: object) -> object:
    """A DuckDB LIST/STRUCT/MAP value as the JSON Kusto would hold for it."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(key): _json_compatible(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_compatible(item) for item in value]
    if isinstance(value, datetime):
        return format_dynamic_datetime(value)
    if isinstance(value, date):
        return format_dynamic_datetime(datetime(value.year, value.month, value.day, tzinfo=UTC))
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def _timespan(value: object) -> object:
    if isinstance(value, time):
        return timedelta(hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond)
    return value


def _guid(value: object) -> object:
    return str(value) if isinstance(value, uuid.UUID) else value


def _string(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return value if isinstance(value, str) else str(value)


def _real(value: object) -> object:
    return float(value) if isinstance(value, int | Decimal) and not isinstance(value, bool) else value


_CONVERTERS: dict[str, Callable[[object], object]] = {
    "datetime": _datetime,
    "dynamic": _dynamic,
    "timespan": _timespan,
    "guid": _guid,
    "string": _string,
    "real": _real,
}
