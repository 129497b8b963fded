"""A query timespan written into the query text, for a Kusto endpoint whose request has no timespan.

Log Analytics takes the timespan in the request and limits every table the query
reads to it. Azure Data Explorer's query request has no such field. Its nearest
equivalent, the ``query_datetimescope_column`` / ``_from`` / ``_to`` request
properties (MicrosoftDocs/dataexplorer-docs, ``data-explorer/kusto/api/rest/request-properties.md``: "an
autoapplied filter on query_datetimescope_column"), documents neither whether ``_to`` is inclusive nor
which tables it applies to, so the bound is written into the text instead, where its meaning is exact:
each table the query names is shadowed by a ``let`` of the same name,

    let SigninLogs = database("Tokenwarden").SigninLogs
        | where TimeGenerated >= datetime(...) and TimeGenerated < datetime(...);

the half-open ``[start, end)`` interval :class:`~shared.detect.logsources.base.TimeRange` means everywhere.
Kusto resolves a name to the innermost ``let`` that binds it (``data-explorer/kusto/query/let-statement.md``:
"the innermost let statement applies"), and ``database("D").T`` names the stored table of database D,
never a ``let`` (``data-explorer/kusto/query/database-function.md``), so the body reads the real table
and every later reference, in a ``union``, ``join`` or ``lookup``, reads the bounded one: the effect
:mod:`shared.detect.logsources.duckdb.timefilter` gives the local workspace with views. (``table("T")`` would say the
same without naming the database, ``data-explorer/kusto/query/table-function.md``, but duckdb-kql, the
local stand-in the tests run against, does not parse it; ``database()`` works in both.)

One difference remains visible: ``union withsource=C`` names a shadowed table's rows by the ``let``, not
by the table (duckdb-kql says ``union_arg0``), so a rule names its source itself (``SourceTable``, as
every shipped rule does) rather than reading it from ``withsource``.

Only names that are the database's tables are shadowed (a column or a ``let`` of the rule's own is
left alone), matched on the tokenizer's identifier tokens, so a word inside a string or comment is
never taken for one. A query that could reach a table by another route, ``table(...)``, or
``database()``/``cluster()`` (:func:`shared.detect.kql.scope.out_of_scope_reason`), would read it unbounded, so
it is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC
from itertools import pairwise

from shared.core.errors import QueryError
from shared.detect.kql.lexer import tokenize
from shared.detect.kql.literals import format_datetime_literal, render_string
from shared.detect.logsources.base import TimeRange

__all__ = ["TIME_COLUMN", "bound_to_timespan", "tables_named"]

TIME_COLUMN = "TimeGenerated"
"""The column a timespan limits, in every Log Analytics table and in the ADX tables made from them."""


def tables_named(text: str, tables: Iterable[str]) -> list[str]:
    """The names in *tables* that *text* uses as identifiers, in the order of *tables*."""
    idents = {token.text for token in tokenize(text) if token.kind == "ident"}
    return [table for table in tables if table in idents]


def bound_to_timespan(text: str, tables: Iterable[str], timespan: TimeRange | None, *, database: str,
                      label: str) -> str:
    """*text* with each of *tables* (of *database*) it names limited to ``timespan``; None leaves the text as it is.

    Raises :class:`QueryError` (naming *label*) when the text could read a table around the bound.
    """
    significant = [token for token in tokenize(text) if token.kind not in ("space", "comment")]
    for current, following in pairwise(significant):
        if current.kind == "ident" and current.text == "table" and following.text == "(":
            raise QueryError(f"{label}: table() references would read past the query's timespan; name the "
                             "table instead", rule_id=label)
    if timespan is None:
        return text
    start = format_datetime_literal(timespan.start.astimezone(UTC))
    end = format_datetime_literal(timespan.end.astimezone(UTC))
    scope = render_string(database, name="database")
    lets = [
        f"let {table} = database({scope}).{table} "
        f"| where {TIME_COLUMN} >= {start} and {TIME_COLUMN} < {end};"
        for table in tables_named(text, tables)
    ]
    return "\n".join((*lets, text)) if lets else text
