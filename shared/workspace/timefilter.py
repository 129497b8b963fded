"""Apply a query timespan the way Log Analytics does: to every table the query reads.

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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.logsources.base import TimeRange
from shared.workspace.sql import ident, timestamp

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = ["BaseTable", "base_tables", "restrict_to_timespan"]


@dataclass(frozen=True)
class BaseTable:
    catalog: str
    name: str
    has_time_generated: bool


def base_tables(connection: DuckDBPyConnection) -> list[BaseTable]:
    """The tables of the connection's own database (``main`` schema), and whether each has TimeGenerated."""
    rows = connection.execute(
        "SELECT t.table_catalog, t.table_name, "
        "EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_catalog = t.table_catalog "
        "AND c.table_schema = t.table_schema AND c.table_name = t.table_name "
        "AND c.column_name = 'TimeGenerated') "
        "FROM information_schema.tables t "
        "WHERE t.table_catalog = current_database() AND t.table_schema = 'main' "
        "AND t.table_type = 'BASE TABLE' ORDER BY t.table_name"
    ).fetchall()
    return [BaseTable(catalog=str(row[0]), name=str(row[1]), has_time_generated=bool(row[2])) for row in rows]


def restrict_to_timespan(cursor: DuckDBPyConnection, tables: Sequence[BaseTable], timespan: TimeRange) -> None:
    """Shadow each of ``tables`` on ``cursor`` with a view limited to ``timespan``."""
    start, end = timestamp(timespan.start), timestamp(timespan.end)
    for table in tables:
        source = f"{ident(table.catalog)}.main.{ident(table.name)}"
        condition = f'"TimeGenerated" >= {start} AND "TimeGenerated" < {end}' if table.has_time_generated else "false"
        cursor.execute(
            f"CREATE OR REPLACE TEMPORARY VIEW {ident(table.name)} AS SELECT * FROM {source} WHERE {condition}"  # noqa: S608 - quoted by sql.ident
        )
