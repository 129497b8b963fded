"""The optional ``TokenwardenAudit_CL`` stream: action records uploaded through the Logs Ingestion API.

:class:`AuditSink` is an ``on_record`` callback for :class:`~shared.respond.actions.ActionStore`: each record
the store writes becomes one row shaped like the table (``shared/schemas/TokenwardenAudit_CL.json``, the
contract the DCR stream and the table are built from) and waits in a buffer; :meth:`AuditSink.flush` uploads
the buffer with ``azure.monitor.ingestion.aio.LogsIngestionClient`` (gzip, chunks of at most 1 MiB, ``POST
{endpoint}/dataCollectionRules/{immutableId}/streams/{stream}?api-version=2023-01-01``). The buffer is
flushed when it holds ``max_batch_rows`` rows and when the sink closes.

* **One retry layer.** The SDK's retry policy is off (``retry_total=0``); :class:`RetryPolicy` retries 408,
  429 (honouring Retry-After), 5xx, timeouts and dropped connections. Only the chunks that failed are sent
  again, so a retry never duplicates rows that were accepted.
* **Timeouts** on every call: ``connection_timeout`` and ``read_timeout``.
* **Never fails the response.** The Actions table is the record of truth; an upload that fails for good is
  logged on ``tokenwarden.audit`` and counted (:attr:`AuditSink.failed`), never raised. A full buffer drops
  its oldest row and counts it (:attr:`AuditSink.dropped`).
* **Phase and Status.** The table's ``Phase`` is ``intent`` (the record's phase ``planned`` or ``intent``)
  or ``outcome`` (``succeeded``, ``skipped``, ``refused``, ``failed``); ``Status`` is the record's phase.

The DCE is https, or plain http on loopback for the local simulator (only there may the bearer policy send a
token without TLS). The SDK is imported on first upload, never on the cold-start path.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shared.core.clouds import AZURE_PUBLIC
from shared.core.errors import ConfigurationError, ThrottledError, UpstreamError
from shared.core.loopback import require_tls

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.monitor.ingestion.aio import LogsIngestionClient

    from shared.core.settings import Settings
    from shared.respond.actions import ActionRecord
    from shared.respond.transport.retry import RetryPolicy

__all__ = [
    "AUDIT_COLUMNS",
    "AUDIT_STREAM",
    "AUDIT_TABLE",
    "INGESTION_SCOPE",
    "MAX_DETAIL_CHARS",
    "AuditSink",
    "audit_row",
]

AUDIT_TABLE = "TokenwardenAudit_CL"
AUDIT_STREAM = f"Custom-{AUDIT_TABLE}"
"""The stream name the DCR declares (``tokenwardenAuditStream`` in infra/monitoring/data-collection.bicep)."""
AUDIT_COLUMNS = ("TimeGenerated", "CaseId", "ActionId", "InvocationId", "Step", "Target", "Phase", "Mode", "Status",
                 "Actor", "Detail")
"""The columns of shared/schemas/TokenwardenAudit_CL.json, in order (a test holds them equal)."""
INGESTION_SCOPE = AZURE_PUBLIC.logs_ingestion_scope
"""The public cloud's; :meth:`AuditSink.from_settings` takes ``settings.cloud``'s (shared/core/clouds.py)."""
MAX_DETAIL_CHARS = 32_000
"""A Detail whose JSON is longer is replaced by its truncated text, so one row can never outgrow a call."""
_INTENT_PHASES = frozenset({"planned", "intent"})

audit_log = logging.getLogger("tokenwarden.audit")


def audit_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One ``TokenwardenAudit_CL`` row from an ``ActionRecord.to_json()`` mapping."""
    phase = str(record.get("phase", ""))
    text = json.dumps(dict(record.get("detail") or {}), default=str, separators=(",", ":"))
    # json.loads: plain JSON values only, whatever the record held.
    detail = {"truncated": True, "text": text[:MAX_DETAIL_CHARS]} if len(text) > MAX_DETAIL_CHARS else json.loads(text)
    return {
        "TimeGenerated": str(record.get("updated_at", "")),
        "CaseId": str(record.get("case_id", "")),
        "ActionId": str(record.get("action_id", "")),
        "InvocationId": str(record.get("invocation_id", "")),
        "Step": str(record.get("step", "")),
        "Target": str(record.get("target", "")),
        "Phase": "intent" if phase in _INTENT_PHASES else "outcome",
        "Mode": str(record.get("mode", "")),
        "Status": phase,
        "Actor": str(record.get("actor", "")),
        "Detail": detail,
    }


class AuditSink:
    """Buffers audit rows and uploads them to one DCR stream; use as ``ActionStore(table, on_record=sink)``.

    Calling the sink (from any thread: the engine records through ``asyncio.to_thread``) only buffers.
    Enter it with ``async with`` on the loop that will upload, so a full buffer schedules a flush on that
    loop; leaving the block flushes what is left and closes the client.
    """

    def __init__(self, *, endpoint: str, rule_id: str, credential: TokenCredential | AsyncTokenCredential,
                 stream: str = AUDIT_STREAM, retry: RetryPolicy | None = None, timeout: float = 30.0,
                 scope: str = INGESTION_SCOPE,
                 max_batch_rows: int = 500, max_buffered_rows: int = 10_000) -> None:
        if not rule_id.strip():
            raise ConfigurationError("AUDIT_DCR_IMMUTABLE_ID is required for the audit stream")
        if max_batch_rows < 1 or max_buffered_rows < max_batch_rows:
            raise ValueError("need 1 <= max_batch_rows <= max_buffered_rows")
        self.endpoint = endpoint.rstrip("/")
        self.rule_id = rule_id.strip()
        self.stream = stream.strip() or AUDIT_STREAM
        self.scope = scope
        self.timeout = timeout
        self.max_batch_rows = max_batch_rows
        self.max_buffered_rows = max_buffered_rows
        self.uploaded = 0
        """Rows the service accepted."""
        self.failed = 0
        """Rows given up on after the retries (or refused by the service); they are only in the Actions table."""
        self.dropped = 0
        """Rows pushed out of a full buffer before they could be sent."""
        self._enforce_https = require_tls(self.endpoint, "LOGS_INGESTION_ENDPOINT")
        self._credential = credential
        self._retry = retry
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._client: LogsIngestionClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._flushes: set[asyncio.Task[int]] = set()
        self._flush_lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(cls, settings: Settings, credential: TokenCredential | AsyncTokenCredential, *,
                      retry: RetryPolicy | None = None, timeout: float = 30.0) -> AuditSink | None:
        """The sink for ``LOGS_INGESTION_ENDPOINT``, ``AUDIT_DCR_IMMUTABLE_ID`` and ``AUDIT_STREAM_NAME``; None
        (the stream is off) unless the endpoint and the rule id are both set."""
        if not settings.logs_ingestion_endpoint or not settings.audit_dcr_immutable_id:
            return None
        return cls(endpoint=settings.logs_ingestion_endpoint, rule_id=settings.audit_dcr_immutable_id,
                   stream=settings.audit_stream_name or AUDIT_STREAM, credential=credential, retry=retry,
                   timeout=timeout, scope=settings.cloud.logs_ingestion_scope)

    # --- the ActionStore callback ------------------------------------------------------------------
    def __call__(self, record: ActionRecord) -> None:
        self.add(record.to_json())

    def add(self, record: Mapping[str, Any]) -> None:
        """Buffer one ``ActionRecord.to_json()`` mapping; thread-safe, never blocks on the network."""
        row = audit_row(record)
        with self._lock:
            if len(self._rows) >= self.max_buffered_rows:
                self._rows.pop(0)
                self.dropped += 1
            self._rows.append(row)
            full = len(self._rows) >= self.max_batch_rows
        loop = self._loop
        if full and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._schedule_flush)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._rows)

    # --- uploading -------------------------------------------------------------------------------------
    def _schedule_flush(self) -> None:
        task = asyncio.ensure_future(self.flush())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush(self) -> int:
        """Upload every buffered row; returns how many the service accepted. Never raises for an upload."""
        if self._flush_lock is None:
            self._flush_lock = asyncio.Lock()
        async with self._flush_lock:
            with self._lock:
                rows, self._rows = self._rows, []
            if not rows:
                return 0
            remaining = list(rows)
            try:
                await self._upload(remaining)
            except Exception as exc:
                self.failed += len(remaining)
                self.uploaded += len(rows) - len(remaining)
                audit_log.warning("audit upload to %s failed; %d of %d row(s) are only in the Actions table: %s",
                                  self.stream, len(remaining), len(rows), _describe(exc))
                return len(rows) - len(remaining)
            self.uploaded += len(rows)
            return len(rows)

    async def _upload(self, remaining: list[dict[str, Any]]) -> None:
        """Send *remaining*, retrying what failed; on return or raise, *remaining* holds the rows not accepted."""
        from shared.respond.transport.retry import RetryPolicy

        retry = self._retry or RetryPolicy(max_attempts=4, max_total_seconds=60.0)
        async for attempt in retry.retrying():
            with attempt:
                await self._send(remaining)

    async def _send(self, remaining: list[dict[str, Any]]) -> None:
        from azure.monitor.ingestion import LogsUploadError

        failures: list[LogsUploadError] = []

        async def on_error(error: LogsUploadError) -> None:
            failures.append(error)

        await self._ingestion_client().upload(
            self.rule_id, self.stream, list(remaining), on_error=on_error, enforce_https=self._enforce_https,
            connection_timeout=min(10.0, self.timeout), read_timeout=self.timeout)
        remaining[:] = [dict(row) for failure in failures for row in failure.failed_logs]
        if failures:
            raise _translate(failures[0].error, f"audit upload to {self.stream}")

    def _ingestion_client(self) -> LogsIngestionClient:
        if self._client is None:
            from azure.monitor.ingestion.aio import LogsIngestionClient

            # retry_total=0: the RetryPolicy around each upload is the one retry layer.
            self._client = LogsIngestionClient(self.endpoint, self._credential,  # type: ignore[arg-type]
                                               retry_total=0, credential_scopes=[self.scope])
        return self._client

    # --- lifecycle ---------------------------------------------------------------------------------------
    async def close(self) -> None:
        """Flush what is buffered, wait for scheduled flushes, and close the client."""
        self._loop = None
        if self._flushes:
            await asyncio.gather(*list(self._flushes), return_exceptions=True)
        await self.flush()
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> AuditSink:
        self._loop = asyncio.get_running_loop()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _translate(error: BaseException, what: str) -> BaseException:
    """An azure-core failure as the error :class:`RetryPolicy` understands; anything else as it came."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    from shared.respond.transport.retry import parse_retry_after

    if isinstance(error, HttpResponseError) and error.status_code is not None:
        headers = getattr(error.response, "headers", None) or {}
        hint = parse_retry_after(headers.get("Retry-After"))
        message = f"{what}: answered {error.status_code}"
        if error.status_code == 429:
            return ThrottledError(message, status=429, retry_after=hint)
        return UpstreamError(message, status=error.status_code, retry_after=hint)
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return UpstreamError(f"{what}: {type(error).__name__}: {_describe(error)}")
    return error


def _describe(error: BaseException) -> str:
    message = getattr(error, "message", None) or str(error)
    return " ".join(str(message).split())[:300]
