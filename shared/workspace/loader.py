"""Load a folder of Log Analytics exports into DuckDB tables shaped like the workspace's.

Files are read by DuckDB's own readers (``read_json``, ``read_csv``,
``read_parquet``), so a large export streams through rather than passing
through Python lists. Every bundled table schema becomes a table even with no
file behind it, with every column typed as the schema says, so a rule runs
locally exactly when it would run in Log Analytics; columns and tables the
schemas do not know are loaded as found and reported, because a typo in an
export name is otherwise invisible until a rule silently matches nothing.

A file DuckDB refuses becomes a DataError naming the file and, wherever one can
be found, the line (see :mod:`shared.workspace.locate`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from shared.errors import DataError
from shared.tables import Column, TableSchema, load_table_schemas
from shared.workspace import casts
from shared.workspace.exports import ExportFile, discover
from shared.workspace.locate import find_malformed, record_location
from shared.workspace.sql import DUCKDB_TYPES, ident, string

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = ["LoadProgress", "LoadReport", "ProgressCallback", "load_exports"]

_PORTAL_SUFFIX = re.compile(r"^(?P<name>.+?) \[(?P<zone>[^\]]+)\]$")
# Every dialect option is pinned: left to sniff, DuckDB may take a later row for the header and
# silently drop the rows above it, or read '#' lines as comments.
_CSV_DIALECT = "header = true, delim = ',', quote = '\"', escape = '\"', comment = '', skip = 0"


@dataclass(frozen=True)
class LoadReport:
    """What a load produced: rows per table (every table, empty ones too) and what was unexpected."""

    tables: Mapping[str, int]
    unknown_tables: tuple[str, ...]
    unknown_columns: Mapping[str, tuple[str, ...]]
    files: tuple[Path, ...]
    skipped_files: tuple[Path, ...] = field(default=())

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())


@dataclass(frozen=True)
class LoadProgress:
    """Reported after each file: which one (``index`` of ``total``), its table and rows loaded."""

    file: Path
    table: str
    index: int
    total: int
    rows: int

    def __str__(self) -> str:
        return f"{self.file.name} ({self.index}/{self.total}): {self.rows} rows into {self.table}"


ProgressCallback = Callable[[LoadProgress], None]


def load_exports(
    folder: Path | str,
    connection: DuckDBPyConnection,
    *,
    on_progress: ProgressCallback | None = None,
    schemas: Mapping[str, TableSchema] | None = None,
) -> LoadReport:
    """Create the schema tables on ``connection`` and load every export file in ``folder``."""
    known = schemas if schemas is not None else load_table_schemas()
    files, skipped = discover(Path(folder), known)
    connection.execute("SET TimeZone = 'UTC'")
    state = _LoadState(connection, known)
    for schema in known.values():
        state.create_schema_table(schema)
    for index, export in enumerate(files, start=1):
        rows = state.load_file(export)
        if on_progress is not None:
            on_progress(LoadProgress(file=export.path, table=export.table, index=index, total=len(files), rows=rows))
    return state.report(files, skipped)


@dataclass(frozen=True)
class _SourceColumn:
    source: str  # the name in the file
    name: str  # the column it fills
    source_type: str  # DuckDB type it is read as


class _LoadState:
    def __init__(self, connection: DuckDBPyConnection, schemas: Mapping[str, TableSchema]) -> None:
        self.con = connection
        self.schemas = schemas
        self.columns: dict[str, dict[str, str]] = {}  # table -> lower(name) -> name, in table order
        self.column_types: dict[str, dict[str, str]] = {}  # table -> name -> DuckDB type
        self.unknown_tables: list[str] = []
        self.unknown_columns: dict[str, list[str]] = {}

    # -- tables -------------------------------------------------------------------------------

    def create_schema_table(self, schema: TableSchema) -> None:
        definitions = ", ".join(self._definition(schema.name, column) for column in schema.columns)
        self._run(f"CREATE TABLE {ident(schema.name)} ({definitions})", location=schema.name)
        self.columns[schema.name] = {column.name.lower(): column.name for column in schema.columns}
        self.column_types[schema.name] = {column.name: DUCKDB_TYPES[column.kusto_type] for column in schema.columns}

    def _definition(self, table: str, column: Column) -> str:
        definition = f"{ident(column.name)} {DUCKDB_TYPES[column.kusto_type]}"
        if column.name == "Type" and column.kusto_type == "string":
            return f"{definition} DEFAULT {string(table)}"  # Log Analytics fills Type with the table name
        if column.kusto_type == "string":
            return f"{definition} DEFAULT ''"
        return definition

    def _add_column(self, table: str, name: str, duckdb_type: str) -> None:
        default = " DEFAULT ''" if duckdb_type == "VARCHAR" else ""
        if table not in self.columns:
            self._run(f"CREATE TABLE {ident(table)} ({ident(name)} {duckdb_type}{default})", location=table)
            self.columns[table] = {}
            self.column_types[table] = {}
            self.unknown_tables.append(table)
        else:
            self._run(f"ALTER TABLE {ident(table)} ADD COLUMN {ident(name)} {duckdb_type}{default}", location=table)
        self.columns[table][name.lower()] = name
        self.column_types[table][name] = duckdb_type
        if table in self.schemas:
            self.unknown_columns.setdefault(table, []).append(name)

    # -- files --------------------------------------------------------------------------------

    def load_file(self, export: ExportFile) -> int:
        if export.path.stat().st_size == 0:
            return 0
        detected = self._describe(export)
        if not detected:
            return 0
        if export.format == "json" and [column.name for column in detected] == ["tables"]:
            raise DataError(
                'this is a query API response ({"tables": ...}); export the rows as JSON lines or an array',
                location=str(export.path),
            )
        columns = _read_types(export, detected, self.schemas.get(export.table))
        source = _source_sql(export, columns)
        targets: list[str] = []
        expressions: list[str] = []
        for column in columns:
            name, expression = self._target(export, column)
            targets.append(ident(name))
            expressions.append(f"{expression} AS {ident(name)}")
        insert = (
            f"INSERT INTO {ident(export.table)} ({', '.join(targets)}) SELECT {', '.join(expressions)} FROM {source}"  # noqa: S608 - quoted by sql.ident/sql.string
        )
        try:
            result = self.con.execute(insert).fetchone()
        except Exception as exc:  # duckdb.Error; duckdb is not imported at module level
            raise self._diagnose(export, columns, source, exc) from None
        return int(result[0]) if result else 0

    def _target(self, export: ExportFile, column: _SourceColumn) -> tuple[str, str]:
        """The table column ``column`` fills and the expression filling it, adding the column if new."""
        table = export.table
        schema = self.schemas.get(table)
        quoted = ident(column.source)
        known = schema.column(self.columns[table].get(column.name.lower(), "")) if schema else None
        if known is not None:
            expression = casts.convert(
                quoted, column.source_type, known.kusto_type, strict=True, label=f"column {known.name}"
            )
            if known.name == "Type":
                expression = f"COALESCE(NULLIF({expression}, ''), {string(table)})"
            if known.name == "TimeGenerated":
                expression = casts.required(expression, quoted, column.source_type, "column TimeGenerated")
            return known.name, expression
        if column.name == "TimeGenerated":
            expression, duckdb_type = casts.convert(quoted, column.source_type, "datetime", strict=True), "TIMESTAMP"
            expression = casts.required(expression, quoted, column.source_type, "column TimeGenerated")
        else:
            expression, duckdb_type = casts.adopt(quoted, column.source_type)
        existing = self.columns.get(table, {}).get(column.name.lower())
        if existing is None:
            self._add_column(table, column.name, duckdb_type)
            return column.name, expression
        existing_type = self.column_types[table][existing]
        if existing_type != duckdb_type:
            expression = f"CAST({expression} AS {existing_type})"
        return existing, expression

    def _describe(self, export: ExportFile) -> list[_SourceColumn]:
        try:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {_detect_sql(export)}").fetchall()  # noqa: S608 - quoted by sql.ident/sql.string
        except Exception as exc:
            if export.format in ("json", "jsonl") and self._record_count(export) == 0:
                return []
            raise self._diagnose(export, [], None, exc) from None
        columns: list[_SourceColumn] = []
        seen: dict[str, str] = {}
        for row in rows:
            source, source_type = str(row[0]), str(row[1])
            name = _column_name(source, export) if export.format == "csv" else source
            if name.lower() in seen:
                raise DataError(
                    f"columns {seen[name.lower()]!r} and {source!r} name the same column", location=str(export.path)
                )
            seen[name.lower()] = source
            columns.append(_SourceColumn(source=source, name=name, source_type=source_type))
        return columns

    def _record_count(self, export: ExportFile) -> int:
        sql = f"SELECT count(*) FROM {_reader(export, columns={'_': 'JSON'})}"  # noqa: S608 - quoted by sql.ident/sql.string
        try:
            row = self.con.execute(sql).fetchone()
        except Exception:
            return -1
        return int(row[0]) if row else 0

    def _diagnose(
        self, export: ExportFile, columns: Sequence[_SourceColumn], source: str | None, exc: Exception
    ) -> DataError:
        malformed = find_malformed(export)
        if malformed is not None:
            return malformed
        schema = self.schemas.get(export.table)
        if source is not None and schema is not None:
            located = self._locate_bad_value(export, columns, source, schema)
            if located is not None:
                return located
        message = " ".join(str(exc).split()) or type(exc).__name__
        return DataError(f"cannot load into {export.table}: {message}", location=str(export.path))

    def _locate_bad_value(
        self, export: ExportFile, columns: Sequence[_SourceColumn], source: str, schema: TableSchema
    ) -> DataError | None:
        """The first record whose value in a typed column cannot be converted, as a DataError."""
        best: tuple[int, str, str, str] | None = None
        for column in columns:
            known = schema.column(self.columns[export.table].get(column.name.lower(), ""))
            if known is None or known.kusto_type in ("string", "dynamic"):
                continue
            quoted = ident(column.source)
            raw = casts.raw_text(quoted, column.source_type)
            lenient = casts.convert(quoted, column.source_type, known.kusto_type, strict=False)
            sql = (
                f"SELECT n, raw FROM (SELECT row_number() OVER () - 1 AS n, {raw} AS raw, {lenient} AS v "  # noqa: S608 - quoted by sql.ident/sql.string
                f"FROM {source}) WHERE raw IS NOT NULL AND v IS NULL ORDER BY n LIMIT 1"
            )
            row = self.con.execute(sql).fetchone()
            if row is not None and (best is None or int(row[0]) < best[0]):
                best = (int(row[0]), known.name, str(row[1]), known.kusto_type)
        if best is None:
            return None
        index, name, raw_value, kusto_type = best
        shown = raw_value if len(raw_value) <= 60 else raw_value[:57] + "..."
        return DataError(
            f"column {name}: cannot read {shown!r} as {kusto_type}", location=record_location(export, index)
        )

    def _run(self, sql: str, *, location: str) -> None:
        try:
            self.con.execute(sql)
        except Exception as exc:
            raise DataError(" ".join(str(exc).split()), location=location) from None

    # -- report -------------------------------------------------------------------------------

    def report(self, files: Sequence[ExportFile], skipped: Sequence[Path]) -> LoadReport:
        counts: dict[str, int] = {}
        for table in self.columns:
            row = self.con.execute(f"SELECT count(*) FROM {ident(table)}").fetchone()  # noqa: S608 - quoted by sql.ident/sql.string
            counts[table] = int(row[0]) if row else 0
        return LoadReport(
            tables=MappingProxyType(counts),
            unknown_tables=tuple(self.unknown_tables),
            unknown_columns=MappingProxyType({table: tuple(names) for table, names in self.unknown_columns.items()}),
            files=tuple(export.path for export in files),
            skipped_files=tuple(skipped),
        )


def _column_name(header: str, export: ExportFile) -> str:
    """``TimeGenerated [UTC]`` (the portal's CSV header) -> ``TimeGenerated``."""
    match = _PORTAL_SUFFIX.match(header)
    if match is None:
        return header
    if match.group("zone") != "UTC":
        raise DataError(
            f"column {header!r} is in {match.group('zone')} time; export the query results in UTC",
            location=str(export.path),
        )
    return match.group("name")


def _detect_sql(export: ExportFile) -> str:
    if export.format == "parquet":
        return f"read_parquet({string(str(export.path))})"
    if export.format == "csv":
        return f"read_csv({string(str(export.path))}, {_CSV_DIALECT}, sample_size = -1)"
    return _reader(export, detect=True)


def _reader(export: ExportFile, *, columns: Mapping[str, str] | None = None, detect: bool = False) -> str:
    """A ``read_json`` call over ``export``: detecting types across the whole file, or with ``columns``."""
    json_format = "newline_delimited" if export.format == "jsonl" else "auto"
    options = f"format = {string(json_format)}, records = 'true'"
    if detect:
        return f"read_json({string(str(export.path))}, {options}, sample_size = -1, maximum_depth = 2)"
    spec = ", ".join(f"{string(name)}: {string(kind)}" for name, kind in (columns or {}).items())
    return f"read_json({string(str(export.path))}, {options}, columns = {{{spec}}})"


def _read_types(
    export: ExportFile, detected: Sequence[_SourceColumn], schema: TableSchema | None
) -> list[_SourceColumn]:
    """The columns with the DuckDB type each is read as, fit for :mod:`shared.workspace.casts`.

    Typed columns are read raw (JSON values, or CSV text) so that every spelling
    of a value reaches the conversion; other columns keep the type DuckDB
    detected over the whole file, nested values as JSON.
    """
    known = {column.name.lower() for column in schema.columns} if schema else set()
    read: list[_SourceColumn] = []
    for column in detected:
        typed = column.name.lower() in known or column.name == "TimeGenerated"
        kind = column.source_type
        if export.format == "csv":
            kind = "VARCHAR" if typed else kind
        elif export.format in ("json", "jsonl"):
            if typed or casts.is_composite(kind):
                kind = "JSON"
            elif kind.upper() == "NULL":
                kind = "VARCHAR"
        read.append(_SourceColumn(source=column.source, name=column.name, source_type=kind))
    return read


def _source_sql(export: ExportFile, columns: Sequence[_SourceColumn]) -> str:
    """The table function reading ``export`` with the types :func:`_read_types` chose."""
    if export.format == "parquet":
        return _detect_sql(export)
    if export.format == "csv":
        overrides = [
            f"{string(column.source)}: {string(column.source_type)}"
            for column in columns
            if column.source_type == "VARCHAR"
        ]
        types = f", types = {{{', '.join(overrides)}}}" if overrides else ""
        return f"read_csv({string(str(export.path))}, {_CSV_DIALECT}, sample_size = -1{types})"
    return _reader(export, columns={column.source: column.source_type for column in columns})
