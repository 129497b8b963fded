"""What the two remote log sources (Log Analytics, Azure Data Explorer) share: a client built on first use,
the credential it owns, and one mapping from a service's HTTP status to Tokenwarden's error for it.

The client and ``DefaultAzureCredential`` (unless a credential is injected) are created on the first query,
not at construction, so building a source costs nothing on the cold-start path, imports no SDK and reads no
environment until it is used. A source closes the credential only if it created it.

The status mapping is the same for both services because the remedies are the same: the query's own
failures are a :class:`QueryError` (retrying the same text fails the same way); 429 is a
:class:`ThrottledError` carrying the service's ``Retry-After``; 401, 403 and 404 (no access, a wrong
workspace, cluster or database) are a :class:`ConfigurationError`, since no retry fixes them; any other
status is an :class:`UpstreamError`, which a caller may retry.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from shared.core.errors import ConfigurationError, QueryError, ThrottledError, TokenwardenError, UpstreamError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["RemoteSource", "error_for_status", "one_line", "retry_after_seconds"]

ClientT = TypeVar("ClientT")


class RemoteSource(ABC, Generic[ClientT]):
    """A log source whose client is built once, on the first query, and closed with the source."""

    def __init__(self, credential: TokenCredential | None) -> None:
        self._credential = credential
        self._owns_credential = credential is None
        self._client: ClientT | None = None
        self._lock = threading.Lock()

    @abstractmethod
    def _build_client(self, label: str) -> ClientT:
        """The SDK client; raise ConfigurationError (naming *label*, the rule) when it cannot be built."""

    @abstractmethod
    def _close_client(self, client: ClientT) -> None: ...

    def _get_client(self, label: str) -> ClientT:
        with self._lock:
            if self._client is None:
                self._client = self._build_client(label)
            return self._client

    def _azure_credential(self, label: str, **options: Any) -> TokenCredential:
        """The injected credential, or a ``DefaultAzureCredential`` this source then owns and closes."""
        if self._credential is None:
            try:
                from azure.identity import DefaultAzureCredential

                self._credential = DefaultAzureCredential(**options)
            except Exception as exc:
                raise ConfigurationError(f"{label}: cannot create an Azure credential: {one_line(exc)}") from None
        return self._credential

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._close_client(client)
        if self._owns_credential and self._credential is not None:
            close = getattr(self._credential, "close", None)
            if callable(close):
                close()


def error_for_status(text: str, status: int | None, *, label: str, retry_after: float | None,
                     query_statuses: Collection[int]) -> TokenwardenError:
    """*text* (already naming the rule and the service's answer) as the error its *status* calls for."""
    if status == 429:
        return ThrottledError(text, status=status, retry_after=retry_after)
    if status in query_statuses:
        return QueryError(text, rule_id=label)
    if status in (401, 403, 404):
        return ConfigurationError(text)
    return UpstreamError(text, status=status)


def retry_after_seconds(response: object) -> float | None:
    """The ``Retry-After`` seconds of an HTTP response (any object with ``headers``), or None."""
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def one_line(value: object) -> str:
    """A service's message with its whitespace (line breaks included) collapsed, for a one-line error."""
    return " ".join(str(value).split())
