"""The log source for archives past one machine: rules run in an Azure Data Explorer (or Fabric Eventhouse) database.

It runs the same text the Log Analytics source sends (a rule's log-analytics form, parameters bound
as ``let`` statements by :func:`shared.detect.kql.render.bind_parameters`), through ``azure-kusto-data``'s
``KustoClient``. What differs from Log Analytics, and how this source makes up for it:

* **The timespan.** An ADX query request has no timespan, so the bound is written into the text:
  every table the query names is shadowed by a ``let`` limited to ``[start, end)``
  (:mod:`shared.detect.kql.window`, which says why not ``query_datetimescope_*``). The table names come from
  ``.show tables``, asked once per source (a Database Viewer may run it:
  MicrosoftDocs/dataexplorer-docs ``data-explorer/kusto/management/show-tables-command.md``).
* **``ingestion_time()``** is null in ADX unless the table's IngestionTime policy was on when the rows
  were ingested (``data-explorer/kusto/query/ingestion-time-function.md``); ``tokenwarden adx schema``
  turns it on for every table it creates (docs/adx.md). Since a null arrival would make every rule
  silently find nothing, the first query that calls ``ingestion_time()`` on a table checks that none of
  its rows in the timespan has a null one; a table with one is a ConfigurationError naming it.
* **Partial results.** A v2 response reports a failure that happens after rows were sent (the
  500,000-record result limit, a runaway query; ``data-explorer/kusto/concepts/query-limits.md``) inside
  the data (``data-explorer/kusto/api/rest/response-v2.md``). The source reads the answer as a stream
  (``execute_streaming_query``), so when ``azure-kusto-data`` raises ``KustoMultiApiError`` at the error row,
  the rows before it are already kept: a :class:`PartialResult` with those rows and the service's
  messages, reported, never a silently shorter complete result. (The buffered ``execute_query`` raises
  the same error while parsing the table, and keeps no rows.)
* **Errors** map as the Log Analytics source's do: the query's own (400, a timeout) are QueryError;
  429 is ThrottledError with Retry-After; 401/403/404 and a refused host are ConfigurationError, since
  no retry fixes them; other statuses and transport failures are UpstreamError.

The client (and ``DefaultAzureCredential``, unless a credential is injected) is built on the first
query, so building a source reads nothing and imports no SDK: ``azure-kusto-data`` stays off the
cold-start path. The token's audience is the cluster's own (the SDK reads it from the cluster's
``/v1/rest/auth/metadata``), so no Kusto audience is hard-coded here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigurationError, DataError, QueryError, RuleError, TokenwardenError, UpstreamError
from shared.detect.logsources.base import CompleteResult, PartialResult, QueryOutcome, ResultTable, TimeRange
from shared.detect.logsources.remote import RemoteSource, error_for_status, one_line, retry_after_seconds

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.kusto.data import KustoClient

__all__ = ["AdxSource"]

_ENTITY_NAME = re.compile(r"[\w .-]{1,1024}")
"""Kusto entity names (MicrosoftDocs/dataexplorer-docs ``data-explorer/kusto/query/schema-entities/entity-names.md``):
letters, digits, underscores, spaces, dots and dashes, 1 to 1024 characters."""


class AdxSource(RemoteSource["KustoClient"]):
    """A :class:`~shared.detect.logsources.base.LogSource` backed by one database of an ADX cluster or Eventhouse."""

    def __init__(
        self,
        cluster_uri: str,
        database: str,
        *,
        credential: TokenCredential | None = None,
        server_timeout: int = 180,
    ) -> None:
        """``server_timeout`` is the service's query limit in seconds (``servertimeout``; at most an hour); the
        socket waits that plus the SDK's 30 seconds, so the service's own timeout answer arrives first."""
        from shared.core.loopback import require_tls

        cluster = cluster_uri.strip().rstrip("/")
        if not cluster:
            raise ConfigurationError("the Azure Data Explorer cluster URI is empty")
        require_tls(cluster, "the Azure Data Explorer cluster")
        if not _ENTITY_NAME.fullmatch(database.strip()):
            raise ConfigurationError(f"the Azure Data Explorer database name {database!r} is not one: 1 to 1024 "
                                     "letters, digits, underscores, spaces, dots and dashes")
        if not 1 <= server_timeout <= 3600:
            raise ConfigurationError(f"server_timeout must be 1..3600 seconds, got {server_timeout}")
        super().__init__(credential)
        self._cluster = cluster
        self._database = database.strip()
        self._server_timeout = server_timeout
        self._tables: tuple[str, ...] | None = None
        self._arrival_checked: set[str] = set()

    @property
    def description(self) -> str:
        return f"Azure Data Explorer database {self._database} at {self._cluster}"

    def query(
        self,
        text: str,
        *,
        parameters: Mapping[str, object],
        timespan: TimeRange | None,
        label: str,
        timeout: float | None = None,
    ) -> QueryOutcome:
        """One query, its tables bounded to *timespan*. With *timeout*, the service's ``servertimeout`` is held
        to it (the socket then waits at most 30 seconds more)."""
        from shared.detect.kql.lexer import KqlLexError
        from shared.detect.kql.render import bind_parameters
        from shared.detect.kql.scope import out_of_scope_reason
        from shared.detect.kql.window import bound_to_timespan, tables_named

        try:
            rendered = bind_parameters(text, parameters)
            reason = out_of_scope_reason(rendered)
        except (DataError, RuleError, KqlLexError) as exc:
            raise QueryError(f"{label}: {exc}", rule_id=label) from None
        if reason is not None:
            raise QueryError(f"{label}: {reason.replace('the local workspace', 'a bounded query')}", rule_id=label)
        tables = self._table_names(label)
        seconds = self._server_timeout if timeout is None else max(1, min(self._server_timeout, int(timeout)))
        if _calls_ingestion_time(rendered):
            self._check_arrival(tables_named(rendered, tables), timespan, label=label, seconds=seconds)
        bounded = bound_to_timespan(rendered, tables, timespan, database=self._database, label=label)
        return self._run(bounded, label=label, seconds=seconds)

    def _check_arrival(self, tables: list[str], timespan: TimeRange | None, *, label: str, seconds: int) -> None:
        """Refuse to run a rule over a table whose rows have no ``ingestion_time()``: the IngestionTime policy was
        off when they were ingested, so every rule (which selects rows by arrival) would find nothing and say
        nothing. Asked once per table per source, over the query's own timespan."""
        from shared.detect.kql.window import bound_to_timespan

        for table in tables:
            with self._lock:
                if table in self._arrival_checked:
                    continue
            # The table name is one `.show tables` returned and the text matched as an identifier; no user text.
            probe = bound_to_timespan(f"{table} | where isnull(ingestion_time()) | take 1 | count", [table],
                                      timespan, database=self._database, label=label)
            outcome = self._run(probe, label=label, seconds=seconds)
            if isinstance(outcome, CompleteResult) and outcome.table.rows and outcome.table.rows[0][0]:
                raise ConfigurationError(
                    f"{label}: {table} in {self._database} has rows without an ingestion time (its IngestionTime "
                    "policy was off when they were ingested), so the rules, which select rows by arrival, would "
                    "miss them; see docs/adx.md and `tokenwarden adx schema`")
            with self._lock:
                self._arrival_checked.add(table)

    def _table_names(self, label: str) -> tuple[str, ...]:
        """The database's tables, from ``.show tables``, once per source."""
        with self._lock:
            if self._tables is not None:
                return self._tables
        client = self._get_client(label)
        try:
            response = client.execute_mgmt(self._database, ".show tables")
        except Exception as exc:
            raise _translate(exc, label) from exc
        primary = response.primary_results[0] if response.primary_results else None
        names = tuple(str(row["TableName"]) for row in primary) if primary is not None else ()
        with self._lock:
            self._tables = names
        return names

    def _run(self, text: str, *, label: str, seconds: int) -> QueryOutcome:
        """The query, streamed, so that a failure reported inside the data keeps the rows sent before it."""
        from azure.kusto.data import ClientRequestProperties
        from azure.kusto.data.exceptions import KustoMultiApiError

        client = self._get_client(label)
        properties = ClientRequestProperties()
        properties.set_option(ClientRequestProperties.request_timeout_option_name, timedelta(seconds=seconds))
        properties.application = "tokenwarden"
        table: Any = None
        rows: list[list[Any]] = []
        try:
            dataset = client.execute_streaming_query(self._database, text, properties=properties)
            table = next(iter(dataset.iter_primary_results()), None)
            if table is not None:
                rows.extend(table.raw_rows)
            dataset.set_skip_incomplete_tables(True)
            for _ in dataset:  # read the answer to its end, so the connection goes back to the pool
                pass
        except KustoMultiApiError as exc:
            details = _api_error_lines(exc)
            return PartialResult(partial_table=_result_table(table, rows) if table is not None else _empty_table(),
                                 error=details[0] if details else "partial failure", details=tuple(details))
        except Exception as exc:
            raise _translate(exc, label) from exc
        return CompleteResult(table=_result_table(table, rows) if table is not None else _empty_table())

    def _close_client(self, client: KustoClient) -> None:
        client.close()

    def _build_client(self, label: str) -> KustoClient:
        from azure.kusto.data import KustoClient, KustoConnectionStringBuilder

        credential = self._azure_credential(label, exclude_interactive_browser_credential=True)
        builder = KustoConnectionStringBuilder.with_azure_token_credential(self._cluster, credential)
        try:
            return KustoClient(builder)
        except Exception as exc:  # an untrusted host (KustoClientInvalidConnectionStringException), a bad URI
            raise ConfigurationError(f"{label}: cannot use the cluster {self._cluster}: {one_line(exc)}") from None


def _calls_ingestion_time(text: str) -> bool:
    from shared.detect.kql.lexer import tokenize

    return any(token.kind == "ident" and token.text == "ingestion_time" for token in tokenize(text))


def _empty_table() -> ResultTable:
    return ResultTable(name="PrimaryResult", columns=(), column_types=(), rows=())


def _result_table(table: Any, rows: list[list[Any]]) -> ResultTable:
    """A streamed primary table's *rows*, as sent, decoded into the local workspace's Python types."""
    from shared.detect.kql.wire import decode_cell

    columns = tuple(str(column.column_name) for column in table.columns)
    types = tuple(str(column.column_type) for column in table.columns)
    decoded = tuple(tuple(decode_cell(kind, value) for kind, value in zip(types, row, strict=True)) for row in rows)
    return ResultTable(name=str(table.table_name), columns=columns, column_types=types, rows=decoded)


def _api_error_lines(exc: Any) -> list[str]:
    """``code: message`` for each error the service reported, its specific ``@message`` first."""
    lines: list[str] = []
    for error in getattr(exc, "get_api_errors", lambda: [])() or []:
        text = one_line(error.description or error.message or "")
        lines.append(f"{error.code}: {text}" if error.code else text)
    return lines


def _translate(exc: Exception, label: str) -> TokenwardenError:
    """An SDK or transport failure as Tokenwarden's error for it, naming the rule."""
    from azure.kusto.data.exceptions import (
        KustoApiError,
        KustoAuthenticationError,
        KustoClientInvalidConnectionStringException,
        KustoNetworkError,
        KustoServiceError,
        KustoThrottlingError,
    )

    if isinstance(exc, KustoThrottlingError):
        response = exc.args[1] if len(exc.args) > 1 else None
        return error_for_status(f"{label}: Azure Data Explorer answered 429: the request was throttled", 429,
                                label=label, retry_after=retry_after_seconds(response), query_statuses=())
    if isinstance(exc, KustoNetworkError):
        return UpstreamError(f"{label}: cannot reach Azure Data Explorer: {one_line(exc.__cause__ or exc)}")
    if isinstance(exc, KustoAuthenticationError | KustoClientInvalidConnectionStringException):
        return ConfigurationError(f"{label}: cannot authenticate to Azure Data Explorer: {one_line(exc)}")
    if isinstance(exc, KustoServiceError):
        response = exc.get_raw_http_response()
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        if isinstance(exc, KustoApiError):
            error = exc.get_api_error()
            detail = one_line(error.description or error.message or exc)
            code = error.code or ""
        else:  # the SDK words 401 and 404 itself; the service's own error, when the body has one, says more
            code, detail = _body_error(response) or ("", one_line(exc.message_text))
        text = f"{label}: Azure Data Explorer answered {status or 'an error'} {code}: {detail}".replace(" :", ":")
        return error_for_status(text, status if isinstance(status, int) else None, label=label,
                                retry_after=retry_after_seconds(response), query_statuses=(400, 408, 504))
    return UpstreamError(f"{label}: Azure Data Explorer query failed: {one_line(exc)}")


def _body_error(response: object) -> tuple[str, str] | None:
    """(code, specific message) of a OneApiErrors body (``data-explorer/kusto/api/rest/response-v2.md``)."""
    try:
        error = response.json().get("error")  # type: ignore[attr-defined]
    except Exception:  # no body, not JSON, not an object
        return None
    if not isinstance(error, Mapping):
        return None
    return str(error.get("code") or ""), one_line(error.get("@message") or error.get("message") or "")
