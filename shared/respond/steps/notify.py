"""The ``notify`` step: post a case summary to a configured webhook, such as a Teams workflow.

A webhook URL is a bearer secret: a Teams workflow or Logic App trigger URL
carries its signature (``sig=...``) in the query string. So the pipeline has no
authentication policy, the URL is refused unless it is https (plain http only on
loopback, for the local sink), and nothing Tokenwarden logs or raises contains
the query string: :attr:`Notifier.safe_url` is what error messages name, and
azure-core's logging and tracing policies redact query values themselves.

Posts go through :class:`~shared.respond.transport.retry.RetryPolicy` (429, 5xx, timeouts,
dropped connections; Retry-After honoured) with connect and read timeouts. A
retried post can be delivered twice if the first attempt reached the receiver
but its answer was lost; every attempt of one notification therefore carries the
same ``Idempotency-Key`` header, derived from the case and the step (the action
id, which names the run), so a receiver can drop the repeat. A duplicate that a
receiver does not drop is accepted as the lesser harm than none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from shared.core.errors import ConfigurationError, ThrottledError, UpstreamError
from shared.core.loopback import uses_tls
from shared.respond.transport.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from azure.core import AsyncPipelineClient

__all__ = ["Notifier"]


class Notifier:
    """Posts JSON payloads to one webhook URL; one pipeline per run, closed with :meth:`close`."""

    def __init__(self, url: str, *, retry: RetryPolicy | None = None, timeout: float = 15.0,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        parts = urlsplit(url)
        if uses_tls(url) is None:
            raise ConfigurationError(f"the notify webhook must be an https URL (plain http only on loopback), "
                                     f"not {parts.scheme or 'a URL without a scheme'}://{parts.hostname or ''}")
        if parts.username or parts.password:
            raise ConfigurationError("the notify webhook URL must not carry a user name or password")
        self._url = url
        self.safe_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        """The URL without its query string (the signature): the only form that is logged or raised."""
        self.retry = retry or RetryPolicy(max_attempts=4, max_total_seconds=60.0)
        self.timeout = timeout
        self._sleep = sleep
        self._client: AsyncPipelineClient[Any, Any] | None = None
        self.calls = 0

    def __repr__(self) -> str:
        return f"Notifier({self.safe_url!r})"

    def _pipeline(self) -> AsyncPipelineClient[Any, Any]:
        if self._client is None:
            from azure.core import AsyncPipelineClient
            from azure.core.pipeline.policies import (
                DistributedTracingPolicy,
                HeadersPolicy,
                HttpLoggingPolicy,
                RequestIdPolicy,
                UserAgentPolicy,
            )

            policies = [RequestIdPolicy(), HeadersPolicy(), UserAgentPolicy(sdk_moniker="tokenwarden"),
                        DistributedTracingPolicy(), HttpLoggingPolicy()]
            self._client = AsyncPipelineClient(base_url=self.safe_url, policies=policies)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, payload: Mapping[str, Any], *, idempotency_key: str | None = None) -> dict[str, Any]:
        """POST *payload* as JSON; returns ``{"webhook", "status", "attempts"}`` (the webhook without its query),
        and the ``idempotency_key`` every attempt carried as its ``Idempotency-Key`` header, when one was given.

        :raises UpstreamError: the receiver refused it (4xx) or kept failing past the retry policy.
        """
        attempts = 0
        async for attempt in self.retry.retrying(sleep=self._sleep):
            with attempt:
                attempts += 1
                status = await self._once(payload, idempotency_key)
                sent = {"webhook": self.safe_url, "status": status, "attempts": attempts}
                return {**sent, "idempotency_key": idempotency_key} if idempotency_key else sent
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(self, payload: Mapping[str, Any], idempotency_key: str | None) -> int:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        headers = {"Content-Type": "application/json; charset=utf-8"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        request = HttpRequest("POST", self._url, json=dict(payload), headers=headers)
        self.calls += 1
        try:
            response = await self._pipeline().send_request(
                request, connection_timeout=min(10.0, self.timeout), read_timeout=self.timeout)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise UpstreamError(f"notify webhook {self.safe_url}: {type(exc).__name__}: "
                                f"{self._redact(str(exc))}") from None
        status = int(response.status_code)
        if 200 <= status < 300:
            return status
        hint = parse_retry_after(response.headers.get("retry-after"))
        message = f"notify webhook {self.safe_url} answered {response.status_code}"
        if response.status_code == 429:
            raise ThrottledError(message, status=429, retry_after=hint)
        raise UpstreamError(message, status=response.status_code, retry_after=hint)

    def _redact(self, text: str) -> str:
        query = urlsplit(self._url).query
        text = text.replace(self._url, self.safe_url)
        return text.replace(query, "REDACTED") if query else text
