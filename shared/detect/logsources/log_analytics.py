"""The production log source: rules run in a Log Analytics workspace through ``azure-monitor-query``.

The query API has no parameter channel, so parameters are bound as ``let``
statements with literals that cannot escape their quotes
(:func:`shared.detect.kql.render.bind_parameters`); a hunt hands over the rule's
log-analytics form (:mod:`shared.detect.rule_forms`), already bound. The timespan goes in
the request, as ``(start, end)``. A ``LogsQueryPartialResult`` becomes a
:class:`PartialResult`, never a silently shorter complete one. Cells are
decoded by :mod:`shared.detect.kql.wire` into the same Python types the local
workspace returns.

The client (and ``DefaultAzureCredential``, unless a credential is injected) is
created on the first query, not at construction, so building a source costs
nothing on the cold-start path and no environment is read until it is used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shared.core.clouds import AZURE_PUBLIC
from shared.core.errors import ConfigurationError, DataError, QueryError, RuleError, TokenwardenError, UpstreamError
from shared.core.loopback import uses_tls
from shared.detect.logsources.base import CompleteResult, PartialResult, QueryOutcome, ResultTable, TimeRange
from shared.detect.logsources.remote import RemoteSource, error_for_status, one_line, retry_after_seconds

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.monitor.query import LogsQueryClient

__all__ = ["DEFAULT_ENDPOINT", "LogAnalyticsSource"]

DEFAULT_ENDPOINT = AZURE_PUBLIC.log_analytics_endpoint  # settings pass AZURE_CLOUD's (shared/core/clouds.py)


class LogAnalyticsSource(RemoteSource["LogsQueryClient"]):
    """A :class:`~shared.detect.logsources.base.LogSource` backed by one Log Analytics workspace."""

    def __init__(
        self,
        workspace_id: str,
        *,
        credential: TokenCredential | None = None,
        endpoint: str | None = None,
        connection_timeout: float = 10.0,
        read_timeout: float | None = None,
        server_timeout: int = 180,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``server_timeout`` is the service's query limit in seconds (3 minutes by default, 10 at most);
        ``read_timeout`` defaults to 30 seconds more, so the service's own timeout answer arrives first.
        ``client_options`` go to ``LogsQueryClient`` as keyword arguments (``connection_verify``, ...).
        """
        if not workspace_id.strip():
            raise ConfigurationError("Log Analytics workspace id is empty")
        if not 1 <= server_timeout <= 600:
            raise ConfigurationError(f"server_timeout must be 1..600 seconds, got {server_timeout}")
        super().__init__(credential)
        self._workspace_id = workspace_id
        self._endpoint = endpoint or DEFAULT_ENDPOINT
        # The bearer policy refuses plain http; the one place a token may travel without TLS is a local
        # (loopback) endpoint such as `tokenwarden workspace serve` (shared.core.loopback.uses_tls). The
        # option is per call in azure-core (BearerTokenCredentialPolicy reads ``enforce_https`` from the
        # request's options), as the audit sink passes it to its uploads.
        self._enforce_https = uses_tls(self._endpoint) is not False
        self._connection_timeout = connection_timeout
        self._read_timeout = read_timeout if read_timeout is not None else server_timeout + 30.0
        self._server_timeout = server_timeout
        self._client_options = dict(client_options or {})

    @property
    def description(self) -> str:
        return f"Log Analytics workspace {self._workspace_id}"

    def query(
        self,
        text: str,
        *,
        parameters: Mapping[str, object],
        timespan: TimeRange | None,
        label: str,
        timeout: float | None = None,
    ) -> QueryOutcome:
        """One query. With *timeout*, the service's ``server_timeout``, the socket's read timeout and
        azure-core's overall retry timeout are all held to it, so a hanging endpoint costs at most that."""
        from shared.detect.kql.render import bind_parameters

        try:
            rendered = bind_parameters(text, parameters)
        except (DataError, RuleError) as exc:
            raise QueryError(f"{label}: {exc}", rule_id=label) from None
        client = self._get_client(label)
        limits: dict[str, Any] = {"server_timeout": self._server_timeout}
        if not self._enforce_https:
            limits["enforce_https"] = False
        if timeout is not None:
            limits.update({"server_timeout": max(1, min(self._server_timeout, int(timeout))),
                           "read_timeout": timeout, "connection_timeout": min(self._connection_timeout, timeout),
                           "timeout": timeout})
        try:
            response = client.query_workspace(
                self._workspace_id,
                rendered,
                timespan=(timespan.start, timespan.end) if timespan is not None else None,
                **limits,
            )
        except Exception as exc:
            raise _translate(exc, label) from exc
        return _outcome(response)

    def _close_client(self, client: LogsQueryClient) -> None:
        client.close()

    def _build_client(self, label: str) -> LogsQueryClient:
        from azure.monitor.query import LogsQueryClient

        credential = self._azure_credential(label)
        options: dict[str, Any] = {
            "connection_timeout": self._connection_timeout,
            "read_timeout": self._read_timeout,
            **self._client_options,
        }
        return LogsQueryClient(credential, endpoint=self._endpoint, **options)


def _outcome(response: Any) -> QueryOutcome:
    from azure.monitor.query import LogsQueryPartialResult

    if isinstance(response, LogsQueryPartialResult):
        error = response.partial_error
        details = _details(getattr(error, "details", None))
        message = details[0][1] if details else (getattr(error, "message", None) or "partial result")
        return PartialResult(
            partial_table=_result_table(response.partial_data),
            error=message,
            details=tuple(f"{code}: {text}" if code else text for code, text in details),
        )
    return CompleteResult(table=_result_table(response.tables))


def _result_table(tables: Sequence[Any] | None) -> ResultTable:
    """The primary table of a response, with cells in the local workspace's Python types."""
    from shared.detect.kql.wire import decode_cell

    if not tables:
        return ResultTable(name="PrimaryResult", columns=(), column_types=(), rows=())
    table = tables[0]
    types = tuple(str(kind) for kind in table.columns_types)
    rows = tuple(tuple(decode_cell(kind, value) for kind, value in zip(types, row, strict=True)) for row in table.rows)
    return ResultTable(name=str(table.name), columns=tuple(table.columns), column_types=types, rows=rows)


def _details(details: object) -> list[tuple[str, str]]:
    """(code, message) per error detail, from its innermost error: the specific one."""
    found: list[tuple[str, str]] = []
    if not isinstance(details, list):
        return found
    for detail in details:
        if not isinstance(detail, Mapping):
            continue
        innermost: Mapping[str, Any] = detail
        while isinstance(innermost.get("innererror"), Mapping):
            innermost = innermost["innererror"]
        message = str(innermost.get("message") or detail.get("message") or "")
        code = str(innermost.get("code") or detail.get("code") or "")
        found.append((code, message))
    return found


def _translate(exc: Exception, label: str) -> TokenwardenError:
    """An SDK or transport failure as Tokenwarden's error for it, naming the rule.

    The query's own failures (400, and 504 when it outran ``server_timeout``)
    are QueryError; 429 is ThrottledError with the service's Retry-After; 401,
    403 and 404 (no access, wrong workspace id) are ConfigurationError, since no
    retry fixes them; other statuses and transport failures are UpstreamError.
    """
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

    if isinstance(exc, HttpResponseError) and exc.status_code is not None:
        status = exc.status_code
        # A 400 arrives with a LogsQueryError instance as ``model`` (innermost message). Statuses azure-core
        # maps itself (401, 404...) leave ``model`` as the LogsQueryError *class*; the parsed OData ``error``
        # has the code then.
        model = getattr(exc, "model", None)
        if model is None or isinstance(model, type):
            model = getattr(exc, "error", None)
        code = getattr(model, "code", None) or ""
        message = getattr(model, "message", None) or exc.message or str(exc)
        text = f"{label}: Log Analytics answered {status} {code}: {one_line(message)}".replace(" :", ":")
        return error_for_status(text, status, label=label, retry_after=retry_after_seconds(exc.response),
                                query_statuses=(400, 504))
    if isinstance(exc, ClientAuthenticationError):
        return ConfigurationError(f"{label}: cannot authenticate to Log Analytics: {one_line(exc)}")
    if isinstance(exc, ServiceRequestError):
        return UpstreamError(f"{label}: cannot reach Log Analytics: {one_line(exc)}")
    return UpstreamError(f"{label}: Log Analytics query failed: {one_line(exc)}")
