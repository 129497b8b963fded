"""Apply a query timespan the way Log Analytics does: to every table the query reads, with an arrival time.

Log Analytics restricts each table to ``TimeGenerated`` within the request's
timespan before the query sees it, whatever the query says. DuckDB gives the
same effect without rewriting the query: on a connection of its own (a DuckDB
cursor), each base table is shadowed by a temporary view of the same name that
keeps only rows with ``start <= TimeGenerated < end``. Unqualified names resolve
to the temporary schema first, so a ``union``, ``join`` or ``lookup`` reads the
filtered views. The views vanish with the cursor, so concurrent queries with
different timespans never see each other's.

A row whose ``TimeGenerated`` is NULL, or a table without the column, has no
time inside any range, so it is filtered out, as it could not be in Log
Analytics, where every row has one.

Each view also carries the row's arrival time as
:data:`~shared.detect.logsources.duckdb.arrival.INGESTION_TIME_COLUMN`, which the local source reads in place of
``ingestion_time()``; the views are made for every query, with a timespan or without.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.detect.logsources.base import TimeRange
from shared.detect.logsources.duckdb.arrival import INGESTION_TIME_COLUMN, TIME_RECEIVED_COLUMN
from shared.detect.logsources.duckdb.sql import ident, timestamp

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = ["BaseTable", "base_tables", "restrict_to_timespan"]


@dataclass(frozen=True)
class BaseTable:
    catalog: str
    name: str
    has_time_generated: bool
    has_arrival: bool = False
    has_time_received: bool = False

    def arrival_expression(self) -> str | None:
        """The SQL that gives a row's arrival time, or None when the table already has the column."""
        if self.has_arrival:
            return None
        fallback = '"TimeGenerated"' if self.has_time_generated else "NULL::TIMESTAMP"
        if self.has_time_received:
            return f"COALESCE(TRY_CAST({ident(TIME_RECEIVED_COLUMN)} AS TIMESTAMP), {fallback})"
        return fallback


def base_tables(connection: DuckDBPyConnection) -> list[BaseTable]:
    """The tables of the connection's own database (``main`` schema), and which time columns each has."""

    has_column = (
        "EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_catalog = t.table_catalog "
        "AND c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = ?)"
    )
    rows = connection.execute(
        f"SELECT t.table_catalog, t.table_name, {has_column}, {has_column}, {has_column} "  # noqa: S608 - constant
        "FROM information_schema.tables t "
        "WHERE t.table_catalog = current_database() AND t.table_schema = 'main' "
        "AND t.table_type = 'BASE TABLE' ORDER BY t.table_name",
        ["TimeGenerated", INGESTION_TIME_COLUMN, TIME_RECEIVED_COLUMN],
    ).fetchall()
    return [BaseTable(catalog=str(row[0]), name=str(row[1]), has_time_generated=bool(row[2]),
                      has_arrival=bool(row[3]), has_time_received=bool(row[4])) for row in rows]


def restrict_to_timespan(
    cursor: DuckDBPyConnection, tables: Sequence[BaseTable], timespan: TimeRange | None
) -> None:
    """Shadow each of ``tables`` on ``cursor`` with a view limited to ``timespan`` (None: every row), with
    its arrival column."""
    for table in tables:
        source = f"{ident(table.catalog)}.main.{ident(table.name)}"
        if timespan is None:
            condition = "true"
        elif table.has_time_generated:
            start, end = timestamp(timespan.start), timestamp(timespan.end)
            condition = f'"TimeGenerated" >= {start} AND "TimeGenerated" < {end}'
        else:
            condition = "false"
        arrival = table.arrival_expression()
        columns = "*" if arrival is None else f"*, {arrival} AS {ident(INGESTION_TIME_COLUMN)}"
        cursor.execute(
            f"CREATE OR REPLACE TEMPORARY VIEW {ident(table.name)} AS SELECT {columns} FROM {source} WHERE {condition}"  # noqa: S608 - quoted by sql.ident
        )
