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

import shutil
import threading
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from shared.core.errors import ConfigurationError, DataError, QueryError, RuleError
from shared.detect.logsources.base import CompleteResult, PartialResult, QueryOutcome, TimeRange

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

    from shared.detect.logsources.duckdb.loader import LoadReport, ProgressCallback
    from shared.detect.logsources.duckdb.storage import Storage
    from shared.detect.logsources.duckdb.timefilter import BaseTable
    from shared.detect.logsources.duckdb.translations import TranslationCache

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
        scratch: Path | None = None,
        reused: bool = False,
        translations: TranslationCache | None = None,
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
        self._scratch = scratch  # a spill folder of this workspace's own, removed on close
        self._translations = translations if translations is not None else _process_translations()
        self.reused = reused
        """Whether the tables came from a saved workspace (``--workspace-dir``) rather than from loading."""

    @classmethod
    def from_exports(
        cls,
        folder: Path | str,
        *,
        database: Path | str | None = None,
        on_progress: ProgressCallback | None = None,
        max_rows: int = DEFAULT_MAX_ROWS,
        timezone: str | None = None,
        columns: Collection[str] | None = None,
        storage: Storage | None = None,
    ) -> LocalWorkspace:
        """Load the export files in ``folder`` into a new database (at ``database``, else a temporary file).

        ``timezone`` places CSV columns headed ``[Local Time]``
        (see :func:`~shared.detect.logsources.duckdb.loader.load_exports`); ``columns`` limits the load to the
        columns a hunt's rules read (see :mod:`shared.detect.logsources.duckdb.columns_used`); ``storage`` bounds
        memory and, with a workspace folder, keeps the database on disk and reuses it while the files are
        unchanged (:mod:`shared.detect.logsources.duckdb.storage`).
        """
        import tempfile

        import duckdb_kql

        from shared.detect.logsources.duckdb.loader import load_exports
        from shared.detect.logsources.duckdb.storage import Storage

        storage = storage or Storage()
        if storage.workspace_dir is not None:
            if database is not None:
                raise ConfigurationError("give a database path or a workspace folder, not both")
            return cls._from_workspace_dir(Path(folder), storage, on_progress=on_progress, max_rows=max_rows,
                                           timezone=timezone, columns=columns)
        target = Path(database) if database is not None else None
        if target is not None and target.exists():
            raise ConfigurationError(f"{target} already exists; open it with LocalWorkspace.open()")
        scratch = Path(tempfile.mkdtemp(prefix="tokenwarden-workspace-"))
        # Without a path, the tables go to a database file in a scratch folder of this workspace's own rather
        # than to memory: DuckDB stores a file's tables compressed and pages them through its buffer pool, so
        # memory stays well under the size of the exports (docs/performance.md), and it is removed on close.
        connection = duckdb_kql.connect(str(target if target is not None else scratch / "workspace.duckdb"))
        try:
            storage.configure(connection, scratch)
            report = load_exports(folder, connection, on_progress=on_progress, timezone=timezone, columns=columns)
            # Loading is the only time files are read. From here on a query (possibly from the HTTP
            # facade) cannot reach the file system through any DuckDB function; the switch is one-way.
            connection.execute("SET enable_external_access = false")
        except BaseException:
            connection.close()
            shutil.rmtree(scratch, ignore_errors=True)
            if target is not None:
                target.unlink(missing_ok=True)
                Path(f"{target}.wal").unlink(missing_ok=True)
            raise
        return cls(connection, description=f"local workspace from {folder}", report=report, max_rows=max_rows,
                   scratch=scratch)

    @classmethod
    def _from_workspace_dir(
        cls, folder: Path, storage: Storage, *, on_progress: ProgressCallback | None, max_rows: int,
        timezone: str | None, columns: Collection[str] | None,
    ) -> LocalWorkspace:
        """The saved database for ``folder`` when its files are unchanged, else a fresh load saved for next time."""
        import duckdb_kql

        from shared.detect.logsources.duckdb.loader import load_exports
        from shared.detect.logsources.duckdb.storage import manifest, save_load, saved_load, workspace_paths
        from shared.detect.logsources.duckdb.translations import TranslationCache

        assert storage.workspace_dir is not None
        home = storage.workspace_dir.resolve()
        if home == folder.resolve() or folder.resolve() in home.parents:
            raise ConfigurationError(f"--workspace-dir {storage.workspace_dir} must not be inside the logs folder")
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(f"--workspace-dir {storage.workspace_dir}: {exc.strerror}") from None
        database, meta = workspace_paths(home, folder)
        wanted = manifest(folder, columns, timezone)
        report = saved_load(meta, wanted) if database.is_file() else None
        spill = home / "spill"
        spill.mkdir(exist_ok=True)
        if report is None:
            for stale in (meta, database, Path(f"{database}.wal")):
                stale.unlink(missing_ok=True)
            connection = duckdb_kql.connect(str(database))
            try:
                storage.configure(connection, spill)
                report = load_exports(folder, connection, on_progress=on_progress, timezone=timezone,
                                      columns=columns)
                connection.execute("CHECKPOINT")
            except BaseException:
                connection.close()
                database.unlink(missing_ok=True)
                Path(f"{database}.wal").unlink(missing_ok=True)
                raise
            connection.close()
            save_load(meta, wanted, report)
            reused = False
        else:
            reused = True
        connection = duckdb_kql.connect(str(database), read_only=True, config={
            "enable_external_access": False, "temp_directory": str(spill)})
        storage.configure(connection, spill, external_access=False)
        return cls(connection, description=f"local workspace from {folder}", report=report, max_rows=max_rows,
                   reused=reused, translations=TranslationCache(home / "translations"))

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
        """Run ``text`` with ``parameters`` as Log Analytics would run the text
        :class:`~shared.detect.logsources.log_analytics.LogAnalyticsSource` sends (its parameters bound as ``let``
        statements): a value is refused here exactly when that text would be.

        With parameters, the rule is translated in its ``declare query_parameters`` form and the values bound
        to the SQL's placeholders, so its translation is made once per text, not once per window
        (:mod:`shared.detect.logsources.duckdb.translations`).

        *timeout* is not enforced: the local source reads files on this machine, and cannot hang on a network."""
        from shared.detect.logsources.duckdb.translations import complete_values

        bound = _bind(text, parameters, label)
        values = complete_values(text, parameters) if parameters else None
        if values is None:
            return self.run_received(bound, timespan=timespan, label=label)
        _check_scope(bound, label)
        return self._run(text, values, timespan=timespan, label=label)

    def run_received(self, text: str, *, timespan: TimeRange | None, label: str) -> QueryOutcome:
        """Run ``text`` as Log Analytics runs a query it receives: the workspace server's path.

        Like Kusto, it refuses a ``declare query_parameters`` default on a ``dynamic`` parameter
        (MicrosoftDocs/dataexplorer-docs, ``data-explorer/kusto/query/query-parameters-statement.md``: "query
        parameters of type dynamic cannot have default values"), and binds the other defaults.
        """
        _refuse_dynamic_defaults(text, label)
        bound = _bind(text, {}, label)
        _check_scope(bound, label)
        return self._run(bound, {}, timespan=timespan, label=label)

    @property
    def translations(self) -> TranslationCache:
        return self._translations

    def _run(self, text: str, values: Mapping[str, object], *, timespan: TimeRange | None,
             label: str) -> QueryOutcome:
        from shared.detect.logsources.duckdb.arrival import INGESTION_TIME_COLUMN, rewrite_ingestion_time
        from shared.detect.logsources.duckdb.sql import ident
        from shared.detect.logsources.duckdb.timefilter import restrict_to_timespan

        with self._cursor(label) as cursor:
            restrict_to_timespan(cursor, self._base_tables(), timespan)
            try:
                relation = self._translations.relation(cursor, rewrite_ingestion_time(text), values)
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
                if self._scratch is not None:
                    shutil.rmtree(self._scratch, ignore_errors=True)

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


_PROCESS_TRANSLATIONS: list[TranslationCache] = []


def _process_translations() -> TranslationCache:
    """One in-memory translation cache per process, shared by its workspaces (the key includes the schema)."""
    if not _PROCESS_TRANSLATIONS:
        from shared.detect.logsources.duckdb.translations import TranslationCache

        _PROCESS_TRANSLATIONS.append(TranslationCache())
    return _PROCESS_TRANSLATIONS[0]


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
