"""The two things the sensor sends, each from an :class:`~tokenwarden_sensor.outbox.Outbox` thread.

* ``TokenValidation_CL`` rows to the Logs Ingestion API with ``azure.monitor.ingestion.LogsIngestionClient``
  (``POST {endpoint}/dataCollectionRules/{immutableId}/streams/{stream}?api-version=2023-01-01``, gzip, chunks
  of at most 1 MiB; https://learn.microsoft.com/azure/azure-monitor/logs/logs-ingestion-api-overview). The
  app's identity needs *Monitoring Metrics Publisher* on the data collection rule; the token scope is
  ``https://monitor.azure.com/.default``.
* ``Tokenwarden.TokenAnomaly`` events (Event Grid schema, ``data`` = one ``TokenValidation_CL`` row) to
  Tokenwarden's inbound topic with ``azure.eventgrid.EventGridPublisherClient``; the identity needs
  *EventGrid Data Sender* on that topic.

Every call has a connect and a read timeout; the SDK retries a few times within them (honouring Retry-After).
Endpoints are https, or plain http on loopback only (a local simulator), where the bearer policy is told
not to insist on TLS. SDKs are imported when the first batch is sent, never at import.
"""

from __future__ import annotations

import ipaddress
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["ANOMALY_EVENT_TYPE", "INGESTION_SCOPE", "AnomalySender", "RowSender", "require_tls"]

INGESTION_SCOPE = "https://monitor.azure.com/.default"
ANOMALY_EVENT_TYPE = "Tokenwarden.TokenAnomaly"
ANOMALY_DATA_VERSION = "1.0"


def require_tls(url: str, what: str) -> bool:
    """True for https; False for plain http on a loopback host (a local simulator); ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return False
    raise ValueError(f"{what} must be an https:// URL (plain http only on loopback), got {url!r}")


_TIMEOUTS = {"connection_timeout": 5.0, "read_timeout": 15.0}
_SDK_RETRIES: dict[str, Any] = {"retry_total": 2, "retry_backoff_factor": 0.5, "retry_backoff_max": 10}


class RowSender:
    """``send(rows)`` for the rows outbox: uploads them, returns how many the service did not accept."""

    def __init__(self, *, endpoint: str, rule_id: str, stream: str, credential: TokenCredential) -> None:
        if not rule_id.strip() or not stream.strip():
            raise ValueError("the ingestion target needs a DCR immutable id and a stream name")
        self.endpoint = endpoint.rstrip("/")
        self.rule_id = rule_id.strip()
        self.stream = stream.strip()
        self._https = require_tls(self.endpoint, "the logs ingestion endpoint")
        self._credential = credential
        self._client: Any = None
        self._lock = threading.Lock()

    def __call__(self, rows: list[dict[str, Any]]) -> int:
        failed: list[int] = []

        def on_error(error: Any) -> None:
            failed.append(len(error.failed_logs))

        self._ingestion_client().upload(self.rule_id, self.stream, rows, on_error=on_error,
                                        enforce_https=self._https, **_TIMEOUTS)
        return sum(failed)

    def _ingestion_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.monitor.ingestion import LogsIngestionClient

                self._client = LogsIngestionClient(self.endpoint, self._credential, credential_scopes=[INGESTION_SCOPE],
                                                   **_SDK_RETRIES)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class AnomalySender:
    """``send(rows)`` for the anomalies outbox: one ``Tokenwarden.TokenAnomaly`` event per row, in one request."""

    def __init__(self, *, endpoint: str, credential: TokenCredential, subject: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.subject = subject
        self._https = require_tls(self.endpoint, "the inbound topic endpoint")
        self._credential = credential
        self._client: Any = None
        self._lock = threading.Lock()

    def __call__(self, rows: list[dict[str, Any]]) -> int:
        from azure.eventgrid import EventGridEvent

        now = datetime.now(UTC)
        events = [EventGridEvent(subject=self.subject, event_type=ANOMALY_EVENT_TYPE, data=dict(row),
                                 data_version=ANOMALY_DATA_VERSION, id=str(uuid.uuid4()), event_time=now)
                  for row in rows]
        self._publisher().send(events, enforce_https=self._https, **_TIMEOUTS)
        return 0

    def _publisher(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.eventgrid import EventGridPublisherClient

                self._client = EventGridPublisherClient(self.endpoint, self._credential, **_SDK_RETRIES)
            return self._client

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()
