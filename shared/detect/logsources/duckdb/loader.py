"""Load a folder of log exports into DuckDB tables shaped like the workspace's.

Files are read by DuckDB's own readers (``read_json``, ``read_json_objects``,
``read_csv``, ``read_parquet``), so a large export streams through rather than
passing through Python lists. Every bundled table schema becomes a table even
with no file behind it, with every column typed as the schema says, so a rule
runs locally exactly when it would run in Log Analytics; columns and tables the
schemas do not know are loaded as found and reported, because a typo in an
export name is otherwise invisible until a rule silently matches nothing.

Which file fills which table, and how its fields become columns, is decided
by :mod:`shared.detect.logsources.duckdb.exports` (the layout) and
:mod:`shared.detect.logsources.duckdb.mappings` (the renames); docs/formats.md describes both.
A record without ``TimeGenerated`` takes its table's own event time
(``CreatedDateTime``...), and the report says so.

Every table also carries one hidden column, :data:`INGESTION_TIME_COLUMN`: the
record's arrival time (``_TimeReceived`` where the export has it, else its
``TimeGenerated``), so that ``ingestion_time()`` has a local answer. It is
never reported as a column.

A file DuckDB refuses becomes a DataError naming the file and, wherever one can
be found, the line (see :mod:`shared.detect.logsources.duckdb.locate`); DuckDB's own message
never reaches the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from shared.core.errors import ConfigurationError, DataError
from shared.detect.logsources.duckdb import casts, mappings
from shared.detect.logsources.duckdb.arrival import INGESTION_TIME_COLUMN
from shared.detect.logsources.duckdb.exports import ExportFile, SkippedFile, discover
from shared.detect.logsources.duckdb.locate import find_malformed, record_location
from shared.detect.logsources.duckdb.sql import DUCKDB_TYPES, ident, string
from shared.detect.logsources.duckdb.survey import FileFields, json_format, survey
from shared.detect.tables import Column, TableSchema, load_table_schemas

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = [
    "INGESTION_TIME_COLUMN",
    "LoadProgress",
    "LoadReport",
    "ProgressCallback",
    "TableLoad",
    "load_exports",
]


_NATIVE_COLLECTIONS = frozenset({"diagnostic-settings", "graph-api", "entra-portal", "unified-audit-log"})
"""Layouts written in Microsoft's own JSON shapes, whose lists and objects become JSON text in string columns."""
_ZONE_SUFFIX = re.compile(r"^(?P<name>.+?)\s*[\[(](?P<zone>UTC|Local Time)[\])]$", re.IGNORECASE)
# Every dialect option is pinned: left to sniff, DuckDB may take a later row for the header and
# silently drop the rows above it, or read '#' lines as comments.
_CSV_DIALECT = "header = true, delim = ',', quote = '\"', escape = '\"', comment = '', skip = 0"
# A data export's path holds "WorkspaceResourceId=/y=2023/m=09/...": never columns of the table.
_NO_HIVE = "hive_partitioning = false"
_RECORD = "__tw_record"
_ROW = "__tw_row"
_ALWAYS_LOADED = frozenset(
    name.lower() for name in ("TimeGenerated", mappings.INGESTION_SOURCE_COLUMN, *mappings.EVENT_TIME_COLUMNS))
"""Loaded whatever the rules read: they make TimeGenerated and the arrival time every rule's window uses."""
_TYPED_READ = {"string": "VARCHAR", "datetime": "TIMESTAMP WITH TIME ZONE", "guid": "UUID", "dynamic": "JSON"}
"""Kusto type -> the type ``read_json`` reads the column as, on the typed path. DuckDB's JSON reader converts
exactly as the careful path would for these (ISO 8601 with any offset, GUIDs with or without braces) and fails
on anything else, which sends the file down the careful path. Numbers and booleans are read as JSON and
converted by :mod:`shared.detect.logsources.duckdb.casts`: the reader would round 1.5 into a long and read
``yes`` as true, where the careful path refuses both."""
_TEXT_GUARD = casts.REFUSAL_MARK.replace("refused", "typed-read") + "a list, an object or JSON text in string column "
"""Starts the error a typed read raises at text that may be a list or an object; the column's name follows, then
:data:`_GUARD_END`, so that the load can read that column as JSON instead (:meth:`_LoadState.load_batch`)."""
_GUARD_END = " <<"


@dataclass(frozen=True)
class TableLoad:
    """What one table received: from which files, in which layouts, rows and their time range."""

    table: str
    layouts: tuple[str, ...]
    files: tuple[str, ...]
    rows: int
    rows_without_time: int
    first: datetime | None
    last: datetime | None
    unknown_columns: tuple[str, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class LoadReport:
    """What a load produced: rows per table (every table, empty ones too) and what was unexpected."""

    tables: Mapping[str, int]
    unknown_tables: tuple[str, ...]
    unknown_columns: Mapping[str, tuple[str, ...]]
    files: tuple[Path, ...]
    skipped_files: tuple[Path, ...] = field(default=())
    skipped: tuple[SkippedFile, ...] = field(default=())
    loads: tuple[TableLoad, ...] = field(default=())
    """One entry per table that at least one file filled, in table-name order."""

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())

    @property
    def rows_without_time(self) -> int:
        return sum(load.rows_without_time for load in self.loads)

    @property
    def time_range(self) -> tuple[datetime, datetime] | None:
        """The earliest and latest TimeGenerated loaded, or None when no row has one."""
        firsts = [load.first for load in self.loads if load.first is not None]
        lasts = [load.last for load in self.loads if load.last is not None]
        return (min(firsts), max(lasts)) if firsts and lasts else None


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
    timezone: str | None = None,
    columns: Collection[str] | None = None,
    typed_read: bool = True,
) -> LoadReport:
    """Create the schema tables on ``connection`` and load every export file under ``folder``.

    :param timezone: the IANA zone of columns headed ``[Local Time]`` (the portal's CSV download in local
        time); without it such a file is refused, because its times cannot be placed.
    :param columns: load only these columns (compared case-insensitively; see
        :func:`shared.detect.logsources.duckdb.columns_used.columns_used`) besides the time columns; the others
        keep their table's empty value. None loads every column. Columns no schema knows are reported either way.
    :param typed_read: False reads every file the careful way (slower; the tests compare the two).
    """
    known = schemas if schemas is not None else load_table_schemas()
    if timezone is not None:
        _check_timezone(timezone)
    files, skipped = discover(Path(folder), known)
    connection.execute("SET TimeZone = 'UTC'")
    state = _LoadState(connection, known, timezone, columns, typed_read=typed_read)
    for schema in known.values():
        state.create_schema_table(schema)
    fields = survey(connection, [export for export in files if state.typed_read_candidate(export)])
    index = 0
    for batch in state.batches(files, fields):
        for export, rows in state.load_batch(batch, fields):
            index += 1
            if on_progress is not None:
                on_progress(LoadProgress(file=export.path, table=export.table, index=index, total=len(files),
                                         rows=rows))
    return state.report(files, skipped)


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"--timezone {name!r} is not an IANA time zone such as Europe/Paris") from None


@dataclass(frozen=True)
class _SourceColumn:
    source: str  # the name in the file (for a mapped layout, the field's path, for messages)
    name: str  # the column it fills
    source_type: str  # DuckDB type it is read as
    expression: str | None = None  # SQL reading it, when not simply the quoted source name
    local_time: bool = False  # a "[Local Time]" CSV column
    typed_read: bool = False  # read already typed from the schema (see _LoadState.typed_columns)

    @property
    def sql(self) -> str:
        return self.expression if self.expression is not None else ident(self.source)


@dataclass
class _TableState:
    files: list[str] = field(default_factory=list)
    layouts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _LoadState:
    def __init__(self, connection: DuckDBPyConnection, schemas: Mapping[str, TableSchema],
                 timezone: str | None, wanted: Collection[str] | None = None, *, typed_read: bool = True) -> None:
        self.con = connection
        self.typed_read = typed_read
        self.schemas = schemas
        self.timezone = timezone
        self.wanted = None if wanted is None else frozenset(name.lower() for name in wanted) | _ALWAYS_LOADED
        self.columns: dict[str, dict[str, str]] = {}  # table -> lower(name) -> name, in table order
        self.column_types: dict[str, dict[str, str]] = {}  # table -> name -> DuckDB type
        self.unknown_tables: list[str] = []
        self.unknown_columns: dict[str, list[str]] = {}
        self.loaded: dict[str, _TableState] = {}
        self.json_text: dict[str, set[str]] = {}
        """table -> string columns (lower-cased) seen holding JSON text, which the typed read reads as JSON: Log
        Analytics keeps LocationDetails, DeviceDetail... of the non-interactive sign-ins as strings of JSON."""

    # -- tables -------------------------------------------------------------------------------

    def create_schema_table(self, schema: TableSchema) -> None:
        definitions = ", ".join(self._definition(schema.name, column) for column in schema.columns)
        hidden = f"{ident(INGESTION_TIME_COLUMN)} TIMESTAMP"
        self._run(f"CREATE TABLE {ident(schema.name)} ({definitions}, {hidden})", location=schema.name)
        self.columns[schema.name] = {column.name.lower(): column.name for column in schema.columns}
        self.column_types[schema.name] = {column.name: DUCKDB_TYPES[column.kusto_type] for column in schema.columns}

    def _definition(self, table: str, column: Column) -> str:
        definition = f"{ident(column.name)} {DUCKDB_TYPES[column.kusto_type]}"
        if self.wanted is not None and column.name.lower() not in self.wanted:
            # A column no selected rule reads holds its empty value in every row. As a virtual generated column it
            # costs nothing per row; stored, writing its default into every inserted row cost several times the
            # insert itself (a 134-column OfficeActivity: 3.8 s against 0.6 s for 213k rows). DuckDB: "Generated
            # columns ... VIRTUAL" https://duckdb.org/docs/stable/sql/statements/create_table#generated-columns
            return f"{definition} GENERATED ALWAYS AS ({self._empty_value(table, column)}) VIRTUAL"
        if column.name == "Type" and column.kusto_type == "string":
            return f"{definition} DEFAULT {string(table)}"  # Log Analytics fills Type with the table name
        if column.kusto_type == "string":
            return f"{definition} DEFAULT ''"
        return definition

    @staticmethod
    def _empty_value(table: str, column: Column) -> str:
        """What an unloaded column holds: Log Analytics' empty string, the table name in ``Type``, else null."""
        if column.kusto_type == "string":
            return string(table) if column.name == "Type" else "''"
        return f"CAST(NULL AS {DUCKDB_TYPES[column.kusto_type]})"

    def _add_column(self, table: str, name: str, duckdb_type: str) -> None:
        default = " DEFAULT ''" if duckdb_type == "VARCHAR" else ""
        if table not in self.columns:
            hidden = f"{ident(INGESTION_TIME_COLUMN)} TIMESTAMP"
            self._run(f"CREATE TABLE {ident(table)} ({ident(name)} {duckdb_type}{default}, {hidden})",
                      location=table)
            self.columns[table] = {}
            self.column_types[table] = {}
            self.unknown_tables.append(table)
        else:
            self._run(f"ALTER TABLE {ident(table)} ADD COLUMN {ident(name)} {duckdb_type}{default}", location=table)
        self.columns[table][name.lower()] = name
        self.column_types[table][name] = duckdb_type
        self._note_unknown(table, name)

    def _note_unknown(self, table: str, name: str) -> None:
        known = self.unknown_columns.setdefault(table, []) if table in self.schemas else None
        if known is not None and name.lower() not in (column.lower() for column in known):
            known.append(name)

    def _is_wanted(self, table: str, name: str) -> bool:
        """Whether the column is loaded: all are, unless the hunt named the columns its rules read."""
        if self.wanted is None or name.lower() in self.wanted or table not in self.schemas:
            return True
        if table in self.schemas and self.schemas[table].column(self.columns[table].get(name.lower(), "")) is None:
            self._note_unknown(table, name)  # not loaded, but still reported: a misspelt export column shows
        return False

    # -- files --------------------------------------------------------------------------------

    # -- the typed path: names from a survey, types from the schemas, many files per read ----------

    def typed_read_candidate(self, export: ExportFile) -> bool:
        """JSON in the Log Analytics shapes (query export, data export) of a table a schema describes."""
        return (self.typed_read and export.layout in ("log-analytics", "data-export")
                and export.format in ("json", "jsonl")
                and export.table in self.schemas)

    def typed_columns(self, export: ExportFile, fields: FileFields | None) -> list[_SourceColumn] | None:
        """The file's loaded columns, each read as its schema type, or None when only the careful path can
        read the file: it did not survey, holds no fields, is a query API response, spells one column two
        ways, or has a loaded column no schema types."""
        if fields is None or not fields.all_objects or fields.names == ("tables",):
            return None
        schema = self.schemas[export.table]
        columns: list[_SourceColumn] = []
        seen: set[str] = set()
        for name in fields.names:
            if name.lower() in seen:
                return None
            seen.add(name.lower())
            if not self._is_wanted(export.table, name):
                continue
            known = schema.column(self.columns[export.table].get(name.lower(), ""))
            if known is not None:
                kind = _TYPED_READ.get(known.kusto_type, "JSON")
                if name.lower() in self.json_text.get(export.table, ()):
                    kind = "JSON"  # the careful conversion tells a string of JSON text from a list or an object
            elif name.lower() == mappings.INGESTION_SOURCE_COLUMN.lower():
                kind = _TYPED_READ["datetime"]
            else:
                return None  # an unknown column to load takes the type DuckDB detects: the careful path
            columns.append(_SourceColumn(source=name, name=known.name if known else name, source_type=kind,
                                         typed_read=True))
        return columns

    def batches(self, files: Sequence[ExportFile], fields: Mapping[str, FileFields]) -> list[list[ExportFile]]:
        """Files in load order, those read the same way (same table, layout, reader and loaded columns)
        together, so that one ``read_json`` over many small blobs lets DuckDB read them in parallel."""
        groups: dict[tuple[object, ...], list[ExportFile]] = {}
        order: list[list[ExportFile]] = []
        for export in files:
            surveyed = fields.get(str(export.path))
            columns = self.typed_columns(export, surveyed) if self.typed_read_candidate(export) else None
            if columns is None or surveyed is None or surveyed.records == 0:
                order.append([export])
                continue
            key = (export.table, export.layout, json_format(export), tuple(column.source for column in columns))
            group = groups.get(key)
            if group is None:
                group = groups[key] = []
                order.append(group)
            group.append(export)
        return order

    def load_batch(self, batch: Sequence[ExportFile], fields: Mapping[str, FileFields]
                   ) -> list[tuple[ExportFile, int]]:
        """Load ``batch``, typed when it can be, else each file by itself; rows per file."""
        first = batch[0]
        columns = self.typed_columns(first, fields.get(str(first.path))) if self.typed_read_candidate(first) else None
        if columns is not None:
            paths = "[" + ", ".join(string(str(export.path)) for export in batch) + "]"
            source = _reader(first, columns={column.source: column.source_type for column in columns}, paths=paths)
            try:
                self._insert(first, first.table, columns, source, None, batch=batch)
                return [(export, fields[str(export.path)].records) for export in batch]
            except _TypedReadFailed as failed:
                column = failed.json_text_column()
                if column is not None and column.lower() not in self.json_text.get(first.table, set()):
                    # Text starting with [ or { : read that column as JSON and try again (the value is mostly on
                    # the first record, so the failed read cost little); a list or object is refused there
                    self.json_text.setdefault(first.table, set()).add(column.lower())
                    return self.load_batch(batch, fields)
                if len(batch) > 1:  # one file is at fault; the others keep the typed path
                    return [loaded for export in batch for loaded in self.load_batch([export], fields)]
        return [(export, self.load_file(export)) for export in batch]

    def load_file(self, export: ExportFile) -> int:
        if export.path.stat().st_size == 0:
            self._register(export, export.table)
            return 0
        if export.layout in ("diagnostic-settings", "graph-api", "unified-audit-log") or (
            export.layout == "entra-portal" and export.format != "csv"
        ):
            columns, source, routes = self._describe_records(export)
        else:
            detected = self._describe(export)
            if export.format == "json" and [column.name for column in detected] == ["tables"]:
                raise DataError(
                    'this is a query API response ({"tables": ...}); export the rows as JSON lines or an array',
                    location=str(export.path),
                )
            columns = _read_types(export, detected, self.schemas.get(export.table))
            source = _source_sql(export, columns)
            routes = [(export.table, None)]
        loaded = 0
        if not routes:
            self._register(export, export.table)
        for table, condition in routes:
            loaded += self._insert(export, table, columns, source, condition)
        if export.layout == "unified-audit-log" and mappings.CLOUD_APP_EVENTS in self.columns:
            self._mirror_cloud_app_events(export)
        return loaded

    def _mirror_cloud_app_events(self, export: ExportFile) -> int:
        """Exchange and SharePoint records that carry a token id, loaded into CloudAppEvents as well
        (:func:`shared.detect.logsources.duckdb.mappings.unified_audit_cloud_app_events`)."""
        table = mappings.CLOUD_APP_EVENTS
        columns, condition = mappings.unified_audit_cloud_app_events(ident(_RECORD))
        columns[INGESTION_TIME_COLUMN] = columns["TimeGenerated"]
        # a column no selected rule reads is a generated column (see _definition), which takes no value
        columns = {name: value for name, value in columns.items()
                   if name == INGESTION_TIME_COLUMN or self._is_wanted(table, name)}
        names = ", ".join(ident(name) for name in columns)
        values = ", ".join(columns.values())
        insert = (f"INSERT INTO {ident(table)} ({names}) SELECT {values} "  # noqa: S608 - quoted by sql.ident
                  f"FROM ({_records_sql(export)}) WHERE {condition}")
        try:
            result = self.con.execute(insert).fetchone()
        except Exception as exc:  # duckdb.Error; duckdb is not imported at module level
            raise self._diagnose(export, table, (), None, exc) from None
        count = int(result[0]) if result else 0
        if count:
            state = self._register(export, table)
            state.notes.append(f"{export.relative}: {count} Exchange/SharePoint records with a token id also "
                               "loaded into CloudAppEvents (RawEventData)")
        return count

    def _insert(self, export: ExportFile, table: str, columns: Sequence[_SourceColumn], source: str,
                condition: str | None, *, batch: Sequence[ExportFile] = ()) -> int:
        """Insert ``source``'s rows into ``table``; ``batch``: every file ``source`` reads (typed path only),
        whose failure raises :class:`_TypedReadFailed` for the caller to take the careful path instead."""
        files = batch or (export,)
        for each in files:
            state = self._register(each, table)
        if not columns:
            return 0
        targets: dict[str, str] = {}
        received: str | None = None
        for column in columns:
            if column.name.lower() == mappings.INGESTION_SOURCE_COLUMN.lower():
                received = casts.convert(column.sql, column.source_type, "datetime", strict=False)
                continue
            if not self._is_wanted(table, column.name):
                continue
            name, expression = self._target(table, column, native_collections=export.layout in _NATIVE_COLLECTIONS)
            targets.setdefault(name, expression)
        time_expression = self._fill_time(table, targets, files, state)
        hidden = time_expression if received is None else f"COALESCE({received}, {time_expression})"
        if time_expression != "NULL":
            targets[INGESTION_TIME_COLUMN] = hidden
        names = ", ".join(ident(name) for name in targets)
        expressions = ", ".join(f"{expression} AS {ident(name)}" for name, expression in targets.items())
        where = f" WHERE {condition}" if condition else ""
        insert = f"INSERT INTO {ident(table)} ({names}) SELECT {expressions} FROM {source}{where}"  # noqa: S608 - quoted by sql.ident/sql.string
        try:
            result = self.con.execute(insert).fetchone()
        except Exception as exc:  # duckdb.Error; duckdb is not imported at module level
            if batch:
                for each in files:
                    state.notes[:] = [note for note in state.notes if not note.startswith(f"{each.relative}: ")]
                raise _TypedReadFailed(str(exc)) from None
            raise self._diagnose(export, table, columns, source, exc) from None
        return int(result[0]) if result else 0

    def _register(self, export: ExportFile, table: str) -> _TableState:
        state = self.loaded.setdefault(table, _TableState())
        if export.relative not in state.files:
            state.files.append(export.relative)
        if export.layout not in state.layouts:
            state.layouts.append(export.layout)
        return state

    def _fill_time(self, table: str, targets: dict[str, str], exports: Sequence[ExportFile],
                   state: _TableState) -> str:
        """Make ``TimeGenerated`` the record's own, else its table's event time; the expression it ends as."""
        fallback = next((name for name in mappings.EVENT_TIME_COLUMNS if name in targets), None)
        has_column = "timegenerated" in self.columns.get(table, {})
        if "TimeGenerated" not in targets:
            if fallback is None or not has_column:
                return targets.get("TimeGenerated", "NULL")
            targets["TimeGenerated"] = targets[fallback]
            state.notes.extend(f"{export.relative}: TimeGenerated taken from {fallback}" for export in exports)
        else:
            if fallback is not None:
                targets["TimeGenerated"] = f"COALESCE({targets['TimeGenerated']}, {targets[fallback]})"
            # The file has the column: a record whose TimeGenerated is null, with no event time to fill it, is no
            # Log Analytics record; loading it would put it outside every window, so the load fails naming it.
            targets["TimeGenerated"] = casts.not_null(targets["TimeGenerated"], "column TimeGenerated")
        return targets["TimeGenerated"]

    def _target(self, table: str, column: _SourceColumn, *, native_collections: bool = False) -> tuple[str, str]:
        """The table column ``column`` fills and the expression filling it, adding the column if new.

        ``native_collections``: the file is one of Microsoft's own JSON shapes (Graph, diagnostic settings, the
        portal, the unified audit log), which hold lists and objects where the Log Analytics column is a string
        (``riskEventTypes_v2``, ``authenticationMethodsUsed``...); Log Analytics stores those as JSON text, and so
        does the loader. In a Log Analytics export the same value would be a string, so a list there is refused.
        """
        schema = self.schemas.get(table)
        quoted = column.sql
        known = schema.column(self.columns.get(table, {}).get(column.name.lower(), "")) if schema else None
        if known is not None:
            strict = not (native_collections and known.kusto_type == "string")
            expression = casts.convert(
                quoted, column.source_type, known.kusto_type, strict=strict, label=f"column {known.name}"
            )
            if column.typed_read and known.kusto_type == "string" and column.source_type == "VARCHAR":
                # read_json gives a list or an object as its JSON text, where the careful path refuses it: text
                # that may be one makes the load read this column as JSON, where the conversion tells them apart
                guard = string(_TEXT_GUARD + known.name + _GUARD_END)
                expression = (f"(CASE WHEN left({quoted}, 1) IN ('[', '{{') THEN error({guard}) "
                              f"ELSE {expression} END)")
            if known.name == "Type":
                expression = f"COALESCE(NULLIF({expression}, ''), {string(table)})"
            if known.kusto_type == "datetime":
                expression = self._zoned(expression, column)
            return known.name, expression
        if column.name == "TimeGenerated":
            expression = casts.convert(quoted, column.source_type, "datetime", strict=True)
            expression, duckdb_type = self._zoned(expression, column), "TIMESTAMP"
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

    def _zoned(self, expression: str, column: _SourceColumn) -> str:
        """A ``[Local Time]`` value placed in ``--timezone`` and turned into UTC wall time."""
        if not column.local_time or self.timezone is None:
            return expression
        return f"CAST(timezone({string(self.timezone)}, {expression}) AS TIMESTAMP)"

    def _describe(self, export: ExportFile) -> list[_SourceColumn]:
        try:
            rows = self.con.execute(f"DESCRIBE SELECT * FROM {_detect_sql(export)}").fetchall()  # noqa: S608 - quoted by sql.ident/sql.string
        except Exception as exc:
            if export.format in ("json", "jsonl") and self._record_count(export) == 0:
                return []
            raise self._diagnose(export, export.table, [], None, exc) from None
        columns: list[_SourceColumn] = []
        seen: dict[str, str] = {}
        renames = mappings.portal_csv_renames() if export.layout == "entra-portal" else {}
        for row in rows:
            source, source_type = str(row[0]), str(row[1])
            local_time = False
            name = source
            if export.format == "csv":
                name, local_time = self._column_name(source, export)
                if renames:
                    key = re.sub(r"[^a-z0-9()]", "", name.lower())
                    name = (renames.get(key) or self.columns.get(export.table, {}).get(key)
                            or "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", name)))
            if name.lower() in seen:
                raise DataError(
                    f"columns {seen[name.lower()]!r} and {source!r} name the same column", location=str(export.path)
                )
            seen[name.lower()] = source
            columns.append(_SourceColumn(source=source, name=name, source_type=source_type, local_time=local_time))
        return columns

    def _column_name(self, header: str, export: ExportFile) -> tuple[str, bool]:
        """``TimeGenerated [UTC]`` (the portal's CSV header) -> ``TimeGenerated``; and whether it is local time."""
        match = _ZONE_SUFFIX.match(header)
        if match is None:
            return header, False
        if match.group("zone").lower() == "utc":
            return match.group("name"), False
        if self.timezone is None:
            raise DataError(
                f"column {header!r} is in local time; pass --timezone with the zone the export was made in "
                "(for example Europe/Paris), or export the query results in UTC",
                location=str(export.path),
            )
        return match.group("name"), True

    def _record_count(self, export: ExportFile) -> int:
        sql = f"SELECT count(*) FROM {_reader(export, columns={'_': 'JSON'})}"  # noqa: S608 - quoted by sql.ident/sql.string
        try:
            row = self.con.execute(sql).fetchone()
        except Exception:
            return -1
        return int(row[0]) if row else 0

    # -- mapped layouts: one JSON record per row, fields picked by path ------------------------

    def _describe_records(
        self, export: ExportFile
    ) -> tuple[list[_SourceColumn], str, list[tuple[str, str | None]]]:
        """Columns (JSON paths into each record), the row source and the tables records are routed to."""
        source = f"(SELECT row_number() OVER () - 1 AS {_ROW}, * FROM ({_records_sql(export)}))"  # noqa: S608 - quoted
        record = ident(_RECORD)
        nested = export.layout == "diagnostic-settings"
        try:
            top = self._keys(f"SELECT DISTINCT unnest(json_keys({record})) FROM {source}")  # noqa: S608 - quoted
            inner = (self._keys(f"SELECT DISTINCT unnest(json_keys({record} -> '$.properties')) FROM {source}")  # noqa: S608
                     if nested else [])
            routes: list[tuple[str, str | None]] = [(export.table, None)]
            if export.layout in ("graph-api", "entra-portal"):
                route = mappings.sign_in_route(record, export.table)
                found = self._keys(f"SELECT DISTINCT {route} FROM {source}")  # noqa: S608 - quoted
                routes = [(table, f"{route} = {string(table)}") for table in found]
        except Exception as exc:
            raise self._diagnose(export, export.table, [], None, exc) from None
        columns: list[_SourceColumn] = []
        taken: set[str] = set()
        if nested:
            renames = mappings.diagnostic_property_renames(export.table)
            for key in inner:
                name = self._mapped_name(export.table, key, renames)
                taken.add(name.lower())
                columns.append(_field(f"properties.{key}", name, f"{record} -> {string(_path('properties', key))}"))
            top_renames, dropped = mappings.diagnostic_renames(export.table)
            for key in top:
                if key == "properties" or key in dropped:
                    continue
                name = self._mapped_name(export.table, key, top_renames)
                if name.lower() not in self.columns.get(export.table, {}):
                    continue  # envelope fields fill the table's own columns only: the properties are the record
                if name.lower() not in taken:  # a property wins over the envelope field of the same name
                    taken.add(name.lower())
                    columns.append(_field(key, name, f"{record} -> {string(_path(key))}"))
            return columns, source, routes
        renames = (mappings.unified_audit_renames() if export.layout == "unified-audit-log"
                   else mappings.graph_sign_in_renames())
        for key in top:
            name = self._mapped_name(export.table, key, renames)
            if name.lower() in taken:
                continue
            taken.add(name.lower())
            columns.append(_field(key, name, f"{record} -> {string(_path(key))}"))
        return columns, source, routes

    def _keys(self, sql: str) -> list[str]:
        return sorted(str(row[0]) for row in self.con.execute(sql).fetchall() if row[0] is not None)

    def _mapped_name(self, table: str, key: str, renames: Mapping[str, str]) -> str:
        if key in renames:
            return renames[key]
        known = self.columns.get(table, {}).get(key.lower())
        if known is not None:
            return known
        return key[:1].upper() + key[1:]

    # -- errors -------------------------------------------------------------------------------

    def _diagnose(
        self, export: ExportFile, table: str, columns: Sequence[_SourceColumn], source: str | None, exc: Exception
    ) -> DataError:
        malformed = find_malformed(export)
        if malformed is not None:
            return malformed
        schema = self.schemas.get(table)
        if source is not None and schema is not None:
            located = self._locate_bad_value(export, table, columns, source, schema)
            if located is not None:
                return located
        refused = casts.refusal_in(str(exc))
        if refused is not None:  # one of the load's own checks: it names the column and what is wrong
            return DataError(refused, location=str(export.path))
        # DuckDB's own text names its internals, not the user's file; it is never shown
        return DataError(
            f"cannot load into {table}: the file does not read as {_describe_layout(export)}; "
            "check that it is a complete, unedited export (see docs/formats.md)",
            location=str(export.path),
        )

    def _locate_bad_value(
        self, export: ExportFile, table: str, columns: Sequence[_SourceColumn], source: str, schema: TableSchema
    ) -> DataError | None:
        """The first record whose value in a typed column cannot be converted, as a DataError."""
        best: tuple[int, str, str, str] | None = None
        for column in columns:
            known = schema.column(self.columns[table].get(column.name.lower(), ""))
            if known is None or known.kusto_type in ("string", "dynamic"):
                continue
            quoted = column.sql
            raw = casts.raw_text(quoted, column.source_type)
            lenient = casts.convert(quoted, column.source_type, known.kusto_type, strict=False)
            sql = (
                f"SELECT n, raw FROM (SELECT row_number() OVER () - 1 AS n, {raw} AS raw, {lenient} AS v "  # noqa: S608 - quoted by sql.ident/sql.string
                f"FROM {source}) WHERE raw IS NOT NULL AND v IS NULL ORDER BY n LIMIT 1"
            )
            try:
                row = self.con.execute(sql).fetchone()
            except Exception:  # noqa: S112 - a column that cannot be scanned cannot be blamed either
                continue
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
        except Exception:
            raise DataError("cannot create the table; is the name a valid table name?", location=location) from None

    # -- report -------------------------------------------------------------------------------

    def report(self, files: Sequence[ExportFile], skipped: Sequence[SkippedFile]) -> LoadReport:
        counts: dict[str, int] = {}
        for table in self.columns:
            row = self.con.execute(f"SELECT count(*) FROM {ident(table)}").fetchone()  # noqa: S608 - quoted by sql.ident/sql.string
            counts[table] = int(row[0]) if row else 0
        loads: list[TableLoad] = []
        for table in sorted(self.loaded):
            state = self.loaded[table]
            has_time = "timegenerated" in self.columns.get(table, {})
            if has_time:
                stats = self.con.execute(
                    f'SELECT count(*) FILTER (WHERE "TimeGenerated" IS NULL), min("TimeGenerated"), '  # noqa: S608 - quoted
                    f'max("TimeGenerated") FROM {ident(table)}'
                ).fetchone()
                without, first, last = (int(stats[0]), stats[1], stats[2]) if stats else (0, None, None)
            else:
                without, first, last = counts.get(table, 0), None, None
            loads.append(TableLoad(
                table=table, layouts=tuple(state.layouts), files=tuple(state.files), rows=counts.get(table, 0),
                rows_without_time=without, first=first, last=last,
                unknown_columns=tuple(self.unknown_columns.get(table, ())), notes=tuple(state.notes)))
        return LoadReport(
            tables=MappingProxyType(counts),
            unknown_tables=tuple(self.unknown_tables),
            unknown_columns=MappingProxyType({table: tuple(names) for table, names in self.unknown_columns.items()}),
            files=tuple(export.path for export in files),
            skipped_files=tuple(item.path for item in skipped),
            skipped=tuple(skipped),
            loads=tuple(loads),
        )


class _TypedReadFailed(Exception):
    """The typed read of a file failed: a value it cannot convert, or text that may be a list."""

    def json_text_column(self) -> str | None:
        """The string column whose text may be a list or an object, when that is why the read failed."""
        text = str(self)
        at = text.find(_TEXT_GUARD)
        end = text.find(_GUARD_END, at + len(_TEXT_GUARD)) if at >= 0 else -1
        return text[at + len(_TEXT_GUARD):end] if end >= 0 else None


def _field(source: str, name: str, expression: str) -> _SourceColumn:
    return _SourceColumn(source=source, name=name, source_type="JSON", expression=f"({expression})")


def _path(*keys: str) -> str:
    """A JSON path selecting nested ``keys``, each quoted (Graph keys hold dots: ``@odata.type``)."""
    return "$" + "".join('."' + key.replace('"', '\\"') + '"' for key in keys)


def _describe_layout(export: ExportFile) -> str:
    return {
        "log-analytics": f"a Log Analytics {export.format.upper()} export",
        "data-export": "Log Analytics data-export JSON lines",
        "diagnostic-settings": "diagnostic-settings records ({time, category, properties})",
        "graph-api": "a Microsoft Graph auditLogs/signIns response",
        "entra-portal": "an Entra portal sign-in download",
        "unified-audit-log": "a unified audit log export with an AuditData column",
    }[export.layout]


def _records_sql(export: ExportFile) -> str:
    """One row per record, in one JSON column, for the layouts whose fields are picked by path."""
    path = string(str(export.path))
    record = ident(_RECORD)
    if export.format == "csv":
        from shared.detect.logsources.duckdb.exports import csv_column

        column = ident(csv_column(export.path, export.compressed, "AuditData") or "AuditData")
        return (f"SELECT CAST({column} AS JSON) AS {record} "  # noqa: S608 - quoted by sql.ident/sql.string
                f"FROM read_csv({path}, {_CSV_DIALECT}, {_NO_HIVE}, all_varchar = true) WHERE {column} IS NOT NULL")
    objects = f"read_json_objects({path}, format = {string(json_format(export))}, {_NO_HIVE})"
    if export.layout == "unified-audit-log":
        return (f"SELECT (CASE WHEN json_exists(json, '$.AuditData') THEN CAST(json ->> '$.AuditData' AS JSON) "  # noqa: S608
                f"ELSE json END) AS {record} FROM {objects}")
    wrapper = "records" if export.layout == "diagnostic-settings" else "value"
    return (f"SELECT unnest(CASE WHEN json_exists(json, '$.{wrapper}') THEN CAST(json -> '$.{wrapper}' AS JSON[]) "  # noqa: S608
            f"ELSE [json] END) AS {record} FROM {objects}")


def _detect_sql(export: ExportFile) -> str:
    if export.format == "parquet":
        return f"read_parquet({string(str(export.path))}, {_NO_HIVE})"
    if export.format == "csv":
        return f"read_csv({string(str(export.path))}, {_CSV_DIALECT}, {_NO_HIVE}, sample_size = -1)"
    return _reader(export, detect=True)


def _reader(export: ExportFile, *, columns: Mapping[str, str] | None = None, detect: bool = False,
            paths: str | None = None) -> str:
    """A ``read_json`` call over ``export`` (or ``paths``, a SQL list of files written the same way): detecting
    types across the whole file, or with ``columns``."""
    options = f"format = {string(json_format(export))}, records = 'true', {_NO_HIVE}"
    files = paths if paths is not None else string(str(export.path))
    if detect:
        return f"read_json({files}, {options}, sample_size = -1, maximum_depth = 2)"
    spec = ", ".join(f"{string(name)}: {string(kind)}" for name, kind in (columns or {}).items())
    return f"read_json({files}, {options}, columns = {{{spec}}})"


def _read_types(
    export: ExportFile, detected: Sequence[_SourceColumn], schema: TableSchema | None
) -> list[_SourceColumn]:
    """The columns with the DuckDB type each is read as, fit for :mod:`shared.detect.logsources.duckdb.casts`.

    Typed columns are read raw (JSON values, or CSV text) so that every spelling
    of a value reaches the conversion; other columns keep the type DuckDB
    detected over the whole file, nested values as JSON.
    """
    known = {column.name.lower() for column in schema.columns} if schema else set()
    read: list[_SourceColumn] = []
    for column in detected:
        typed = column.name.lower() in known or column.name in ("TimeGenerated", mappings.INGESTION_SOURCE_COLUMN)
        kind = column.source_type
        if export.format == "csv":
            kind = "VARCHAR" if typed else kind
        elif export.format in ("json", "jsonl"):
            if typed or casts.is_composite(kind):
                kind = "JSON"
            elif kind.upper() == "NULL":
                kind = "VARCHAR"
        read.append(_SourceColumn(source=column.source, name=column.name, source_type=kind,
                                  local_time=column.local_time))
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
        return f"read_csv({string(str(export.path))}, {_CSV_DIALECT}, {_NO_HIVE}, sample_size = -1{types})"
    return _reader(export, columns={column.source: column.source_type for column in columns})
