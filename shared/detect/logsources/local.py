"""The local log source: rules run with duckdb-kql over exports loaded into DuckDB.

The workspace runs the same text Log Analytics receives: parameters are bound as
``let`` statements by the same renderer (:func:`shared.detect.kql.render.bind_parameters`),
so a value is refused by both backends or by neither. Text it receives as it is
(:meth:`LocalWorkspace.run_received`, the local endpoint's path) is refused where
Kusto refuses it: a ``declare query_parameters`` default on a ``dynamic``
parameter, so a form that Log Analytics or Sentinel would reject fails here first. ``ingestion_time()``
reads each row's arrival time (:mod:`shared.detect.logsources.duckdb.arrival`). The timespan is
applied to every table the query reads (:mod:`shared.detect.logsources.duckdb.timefilter`), on a
DuckDB cursor of the query's own, which is what makes one workspace safe to share
between server threads.

Like Log Analytics, a result longer than ``max_rows`` (500,000 by default, the
service's own limit) comes back truncated as a :class:`PartialResult`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from shared.core.errors import ConfigurationError, DataError, QueryError, RuleError
from shared.detect.logsources.base import CompleteResult, PartialResult, QueryOutcome, TimeRange

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from shared.detect.logsources.duckdb.loader import LoadReport, ProgressCallback
    from shared.detect.logsources.duckdb.timefilter import BaseTable

__all__ = ["DEFAULT_MAX_ROWS", "LocalQueryError", "LocalWorkspace", "QueryErrorKind"]

DEFAULT_MAX_ROWS = 500_000
"""Log Analytics truncates a query result at 500,000 records; the local workspace does the same."""

QueryErrorKind = Literal["syntax", "semantic", "parameter", "refused", "engine"]


class LocalQueryError(QueryError):
    """A query the local workspace could not run.

    ``kind`` says what went wrong and ``detail`` is the message without the
    label, so the HTTP facade can answer the way Log Analytics would.
    """

    def __init__(self, detail: str, *, rule_id: str, kind: QueryErrorKind) -> None:
        super().__init__(f"{rule_id}: {detail}", rule_id=rule_id)
        self.kind: QueryErrorKind = kind
        self.detail = detail


class LocalWorkspace:
    """A :class:`~shared.detect.logsources.base.LogSource` over a DuckDB database of Log Analytics tables."""

    def __init__(
        self,
        connection: DuckDBPyConnection,
        *,
        description: str,
        report: LoadReport | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
    ) -> None:
        if max_rows < 1:
            raise ConfigurationError(f"max_rows must be at least 1, got {max_rows}")
        self._connection = connection
        self._description = description
        self._report = report
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._closed = False
        self._tables: list[BaseTable] | None = None

    @classmethod
    def from_exports(
        cls,
        folder: Path | str,
        *,
        database: Path | str | None = None,
        on_progress: ProgressCallback | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timezone: str | None = None,
    ) -> LocalWorkspace:
        """Load the export files in ``folder`` into a new database (in memory unless ``database`` is a path).

        ``timezone`` places CSV columns headed ``[Local Time]``
        (see :func:`~shared.detect.logsources.duckdb.loader.load_exports`).
        """
        import duckdb_kql

        from shared.detect.logsources.duckdb.loader import load_exports

        target = Path(database) if database is not None else None
        if target is not None and target.exists():
            raise ConfigurationError(f"{target} already exists; open it with LocalWorkspace.open()")
        connection = duckdb_kql.connect(str(target) if target is not None else ":memory:")
        try:
            report = load_exports(folder, connection, on_progress=on_progress, timezone=timezone)
            # Loading is the only time files are read. From here on a query (possibly from the HTTP
            # facade) cannot reach the file system through any DuckDB function; the switch is one-way.
            connection.execute("SET enable_external_access = false")
        except BaseException:
            connection.close()
            if target is not None:
                target.unlink(missing_ok=True)
                Path(f"{target}.wal").unlink(missing_ok=True)
            raise
        return cls(connection, description=f"local workspace from {folder}", report=report, max_rows=max_rows)

    @classmethod
    def open(cls, database: Path | str, *, max_rows: int = DEFAULT_MAX_ROWS) -> LocalWorkspace:
        """Open a database written by :meth:`from_exports`, read-only."""
        import duckdb_kql

        path = Path(database)
        if not path.is_file():
            raise ConfigurationError(f"{path} does not exist")
        try:
            connection = duckdb_kql.connect(str(path), read_only=True, config={"enable_external_access": False})
        except Exception as exc:  # duckdb.Error
            raise DataError(f"cannot open as a DuckDB database: {_one_line(exc)}", location=str(path)) from None
        return cls(connection, description=f"local workspace {path}", max_rows=max_rows)

    @property
    def description(self) -> str:
        return self._description

    @property
    def report(self) -> LoadReport | None:
        """What :meth:`from_exports` loaded; None for a workspace opened from a database file."""
        return self._report

    def query(
        self,
        text: str,
        *,
        parameters: Mapping[str, object],
        timespan: TimeRange | None,
        label: str,
        timeout: float | None = None,
    ) -> QueryOutcome:
        """Run ``text`` as :class:`~shared.detect.logsources.log_analytics.LogAnalyticsSource` would send it (its
        parameters bound as ``let`` statements) and Log Analytics would run it.

        *timeout* is not enforced: the local source reads files on this machine, and cannot hang on a network."""
        return self.run_received(_bind(text, parameters, label), timespan=timespan, label=label)

    def run_received(self, text: str, *, timespan: TimeRange | None, label: str) -> QueryOutcome:
        """Run ``text`` as Log Analytics runs a query it receives: the workspace server's path.

        Like Kusto, it refuses a ``declare query_parameters`` default on a ``dynamic`` parameter
        (MicrosoftDocs/dataexplorer-docs, ``data-explorer/kusto/query/query-parameters-statement.md``: "query
        parameters of type dynamic cannot have default values"), and binds the other defaults.
        """
        import duckdb_kql

        from shared.detect.logsources.duckdb.arrival import INGESTION_TIME_COLUMN, rewrite_ingestion_time
        from shared.detect.logsources.duckdb.sql import ident
        from shared.detect.logsources.duckdb.timefilter import restrict_to_timespan

        _refuse_dynamic_defaults(text, label)
        bound = _bind(text, {}, label)
        _check_scope(bound, label)
        with self._cursor(label) as cursor:
            restrict_to_timespan(cursor, self._base_tables(), timespan)
            try:
                relation = duckdb_kql.kql(cursor, rewrite_ingestion_time(bound), allow_write=False)
                if INGESTION_TIME_COLUMN in relation.columns:  # hidden, as in Log Analytics: `T | take 1` omits it
                    relation = relation.select(*[ident(c) for c in relation.columns if c != INGESTION_TIME_COLUMN])
                columns = [str(column) for column in relation.columns]
                types = [str(kind) for kind in relation.types]
                rows = relation.limit(self._max_rows + 1).fetchall()
            except Exception as exc:
                raise _query_error(exc, label) from exc
        from shared.detect.logsources.duckdb.results import to_result_table

        table = to_result_table(columns, types, rows[: self._max_rows])
        if len(rows) > self._max_rows:
            return PartialResult(
                partial_table=table,
                error=(
                    f"Query result set has exceeded the internal record count limit {self._max_rows} "
                    "(E_QUERY_RESULT_SET_TOO_LARGE)"
                ),
            )
        return CompleteResult(table=table)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()

    def _base_tables(self) -> list[BaseTable]:
        from shared.detect.logsources.duckdb.timefilter import base_tables

        with self._lock:
            if self._tables is None:
                self._tables = base_tables(self._connection)
            return self._tables

    @contextmanager
    def _cursor(self, label: str) -> Iterator[DuckDBPyConnection]:
        with self._lock:
            if self._closed:
                raise LocalQueryError("the workspace is closed", rule_id=label, kind="engine")
            cursor = self._connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()


def _refuse_dynamic_defaults(text: str, label: str) -> None:
    from shared.detect.kql.declare import parse_declare
    from shared.detect.kql.lexer import KqlLexError

    try:
        block = parse_declare(text)
    except (RuleError, KqlLexError) as exc:
        raise LocalQueryError(str(exc), rule_id=label, kind="syntax") from None
    if block is not None and block.dynamic_defaults:
        names = ", ".join(block.dynamic_defaults)
        raise LocalQueryError(
            f"declare query_parameters: parameters of type dynamic cannot have default values ({names})",
            rule_id=label, kind="semantic",
        )


def _bind(text: str, parameters: Mapping[str, object], label: str) -> str:
    """``text`` with its parameters bound as ``let`` statements, as the Log Analytics source sends it."""
    from shared.detect.kql.lexer import KqlLexError
    from shared.detect.kql.render import bind_parameters

    try:
        return bind_parameters(text, parameters)
    except (RuleError, KqlLexError) as exc:
        raise LocalQueryError(str(exc), rule_id=label, kind="syntax") from None
    except DataError as exc:
        raise LocalQueryError(str(exc), rule_id=label, kind="parameter") from None


def _check_scope(text: str, label: str) -> None:
    from shared.detect.kql.lexer import KqlLexError
    from shared.detect.kql.scope import out_of_scope_reason

    try:
        reason = out_of_scope_reason(text)
    except KqlLexError as exc:
        raise LocalQueryError(str(exc), rule_id=label, kind="syntax") from None
    if reason is not None:
        raise LocalQueryError(reason, rule_id=label, kind="refused")


def _query_error(exc: Exception, label: str) -> LocalQueryError:
    import duckdb
    from duckdb_kql import KqlSchemaError, KqlSyntaxError, KqlUnsupportedError

    kind: QueryErrorKind
    if isinstance(exc, KqlSyntaxError):
        kind = "syntax"
    elif isinstance(
        exc,
        KqlSchemaError
        | KqlUnsupportedError
        | duckdb.BinderException
        | duckdb.CatalogException
        | duckdb.ParserException,
    ):
        kind = "semantic"
    else:
        kind = "engine"
    return LocalQueryError(_one_line(exc), rule_id=label, kind=kind)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
