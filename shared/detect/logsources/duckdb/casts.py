"""SQL expressions converting an export's raw column into the column's Kusto type.

Exports disagree about how a value is written: a ``long`` is a JSON number in a
data export, a JSON string in ``az monitor log-analytics query`` output and bare
text in the portal's CSV; a ``dynamic`` is a nested object in one and JSON text
in another; a ``datetime`` is ISO 8601 or the portal's ``2/25/2025, 9:19:25.391
AM``. Each expression here accepts all of those and yields the DuckDB type
duckdb-kql expects (:data:`shared.detect.logsources.duckdb.sql.DUCKDB_TYPES`).

Two flavours exist. The *lenient* one yields NULL for a value it cannot convert;
the *strict* one raises through DuckDB's ``error()`` instead, so a bad value
fails the load rather than vanishing. The loader uses strict, and lenient to
find which record failed.

Strings follow Kusto: a missing string is the empty string, never NULL, so
``where Col == ""`` behaves as it does in Log Analytics.
"""

from __future__ import annotations

import re

from shared.detect.logsources.duckdb.sql import DUCKDB_TYPES, string

__all__ = ["PORTAL_DATETIME_FORMATS", "REFUSAL_MARK", "adopt", "convert", "is_composite", "is_present", "not_null",
           "raw_text", "refusal_in"]

PORTAL_DATETIME_FORMATS = ("%m/%d/%Y, %I:%M:%S.%g %p", "%m/%d/%Y, %I:%M:%S %p")
"""The Azure portal's CSV export spelling of a UTC datetime: ``2/25/2025, 9:19:25.391 AM``."""

_COMPOSITE = re.compile(r"(\[\d*\]$|^STRUCT|^MAP|^UNION|^LIST)", re.IGNORECASE)
_TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATE")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE")  # fmt: skip


def is_composite(source_type: str) -> bool:
    return bool(_COMPOSITE.search(source_type))


def raw_text(column: str, source_type: str) -> str:
    """The value as text (NULL when absent): what a person would read in the file."""
    kind = source_type.upper()
    if kind == "VARCHAR":
        return f"NULLIF(TRIM({column}), '')"
    if kind == "JSON":
        return f"NULLIF(TRIM({column} ->> '$'), '')"
    if is_composite(kind):
        return f"CAST(to_json({column}) AS VARCHAR)"
    return f"CAST({column} AS VARCHAR)"


REFUSAL_MARK = "tokenwarden-refused: "
"""Starts the text of every ``error()`` the load's own checks raise, so the loader can tell its refusals (which
name the column and the problem, and are shown) from DuckDB's own failures (which are not)."""


def _refusal(message: str) -> str:
    return string(REFUSAL_MARK + message)


def refusal_in(error_text: str) -> str | None:
    """The load's own refusal inside a DuckDB error's text, or None when DuckDB failed on its own."""
    at = error_text.find(REFUSAL_MARK)
    return " ".join(error_text[at + len(REFUSAL_MARK):].split()) if at >= 0 else None


def is_present(column: str, source_type: str) -> str:
    """A boolean expression: the file holds a value (not null, not blank) in this column."""
    return f"({raw_text(column, source_type)} IS NOT NULL)"


def convert(column: str, source_type: str, kusto_type: str, *, strict: bool, label: str = "") -> str:
    """An expression turning ``column`` (DuckDB type ``source_type``) into ``kusto_type``."""
    lenient = _lenient(column, source_type.upper(), kusto_type)
    if strict and kusto_type == "string":
        return _text_only(column, source_type.upper(), lenient, label)
    if not strict or kusto_type == "dynamic" or _cannot_fail(source_type.upper(), kusto_type):
        return lenient  # dynamic accepts every value; a value already of the type needs no check
    message = _refusal(f"cannot convert {label or 'value'} to {kusto_type}: ")
    present = is_present(column, source_type)
    return (
        f"(CASE WHEN {present} AND ({lenient}) IS NULL "
        f"THEN error({message} || {raw_text(column, source_type)}) ELSE {lenient} END)"
    )


def _text_only(column: str, kind: str, lenient: str, label: str) -> str:
    """A string column in strict mode: a list or an object where the schema says text is refused, not flattened
    into JSON text (a UPN that is a list names no user, and reading it as one would name a wrong one)."""
    message = _refusal(f"cannot convert {label or 'value'} to string: it holds a list or an object: ")
    if is_composite(kind):
        return f"(CASE WHEN {column} IS NULL THEN '' ELSE error({message} || CAST(to_json({column}) AS VARCHAR)) END)"
    if kind == "JSON":
        return (f"(CASE WHEN json_type({column}) IN ('ARRAY', 'OBJECT') "
                f"THEN error({message} || CAST({column} AS VARCHAR)) ELSE {lenient} END)")
    return lenient


def not_null(expression: str, label: str) -> str:
    """*expression*, failing the load (DuckDB ``error()``) where it is null."""
    message = _refusal(f"{label} is missing or null")
    return f"(CASE WHEN ({expression}) IS NULL THEN error({message}) ELSE {expression} END)"


def adopt(column: str, source_type: str) -> tuple[str, str]:
    """For a column no schema describes: an expression and its DuckDB type, kept as found.

    Only representations duckdb-kql would misread are changed: zoned and
    odd-precision timestamps become naive UTC ``TIMESTAMP``, nested values
    become ``JSON`` (Kusto ``dynamic``), and text follows the empty-string rule.
    """
    kind = source_type.upper()
    if kind in _TIMESTAMPS:
        return f"CAST({column} AS TIMESTAMP)", "TIMESTAMP"
    if kind == "JSON" or is_composite(kind):
        return _lenient(column, kind, "dynamic"), "JSON"
    if kind == "VARCHAR":
        return f"COALESCE({column}, '')", "VARCHAR"
    if kind in ("TIME", "BLOB", "BIT") or kind.startswith("TIME WITH"):
        return f"COALESCE(CAST({column} AS VARCHAR), '')", "VARCHAR"
    return column, source_type


def _cannot_fail(kind: str, kusto_type: str) -> bool:
    """The source type is the column's type already (a typed read, a Parquet column): nothing to refuse."""
    if kusto_type == "datetime":
        return kind in _TIMESTAMPS
    return kusto_type not in ("string", "dynamic") and kind == DUCKDB_TYPES[kusto_type]


def _lenient(column: str, kind: str, kusto_type: str) -> str:
    if kusto_type not in ("string", "dynamic", "datetime") and kind == DUCKDB_TYPES[kusto_type]:
        return column
    if kusto_type == "string":
        return f"COALESCE({_as_string(column, kind)}, '')"
    if kusto_type == "dynamic":
        return _as_dynamic(column, kind)
    if kusto_type == "datetime":
        return _as_datetime(column, kind)
    target = DUCKDB_TYPES[kusto_type]
    if kind in _NUMERIC or kind == "BOOLEAN" or kind.startswith("DECIMAL"):
        return f"TRY_CAST({column} AS {target})"
    text = raw_text(column, kind)
    if kusto_type == "bool":
        text = f"LOWER({text})"
    return f"TRY_CAST({text} AS {target})"


def _as_string(column: str, kind: str) -> str:
    if kind == "VARCHAR":
        return column
    if kind == "JSON":
        return f"(CASE WHEN json_type({column}) = 'VARCHAR' THEN {column} ->> '$' ELSE CAST({column} AS VARCHAR) END)"
    if is_composite(kind):
        return f"CAST(to_json({column}) AS VARCHAR)"
    return f"CAST({column} AS VARCHAR)"


def _as_dynamic(column: str, kind: str) -> str:
    if kind == "JSON":
        # A JSON string holding an object or array is how text exports carry dynamic values. An object or a list
        # (most dynamic values) is kept as it is without parsing it again for json_type: its text starts with { or [
        inner = f"({column} ->> '$')"
        return (
            f"(CASE WHEN left(CAST({column} AS VARCHAR), 1) IN ('{{', '[') THEN {column} "
            f"WHEN json_type({column}) = 'VARCHAR' AND json_valid({inner}) "
            f"AND regexp_matches({inner}, '^\\s*[\\[{{]') THEN CAST({inner} AS JSON) ELSE {column} END)"
        )
    if kind == "VARCHAR":
        # Text that is JSON goes through as it is, parsed once by the cast (json_valid and then CAST parsed it
        # twice); other text becomes a JSON string. TRY_CAST(... AS JSON) is NULL exactly where json_valid is false.
        text = f"NULLIF({column}, '')"
        return f"COALESCE(TRY_CAST({text} AS JSON), CAST(to_json({text}) AS JSON))"
    return f"CAST(to_json({column}) AS JSON)"


def _as_datetime(column: str, kind: str) -> str:
    if kind in _TIMESTAMPS:
        # The session time zone is UTC (duckdb_kql.connect), so a zoned value lands on UTC wall time.
        return f"CAST({column} AS TIMESTAMP)"
    text = raw_text(column, kind)
    formats = ", ".join(string(pattern) for pattern in PORTAL_DATETIME_FORMATS)
    return (
        f"COALESCE(CAST(TRY_CAST({text} AS TIMESTAMP WITH TIME ZONE) AS TIMESTAMP), try_strptime({text}, [{formats}]))"
    )
