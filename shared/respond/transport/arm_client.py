"""Azure Resource Manager calls through the azure-core pipeline, authenticated with the app's managed identity.

There is no management SDK for Sentinel incidents or site restarts that we want
on the cold-start path, and the REST contract is small, so response steps speak
ARM directly through an :class:`~azure.core.AsyncPipelineClient`: the bearer
token policy (managed identity in Azure), request ids, and azure-core's HTTP
logging with secrets redacted. azure-core's own retry policy is left out on
purpose: :class:`~shared.respond.transport.retry.RetryPolicy` is the one retry layer, so
attempts are not multiplied and Retry-After is honoured the same way for every
call. Every request carries a connect and a read timeout.

The endpoint is configurable (``ARM_ENDPOINT``) for sovereign clouds and for the
local simulator, which is served over plain HTTP on loopback; only there is the
bearer policy allowed to send a token without TLS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.core.clouds import AZURE_PUBLIC
from shared.core.errors import ThrottledError, UpstreamError
from shared.core.loopback import require_tls
from shared.respond.transport.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from azure.core import AsyncPipelineClient
    from azure.core.credentials import TokenCredential
    from azure.core.credentials_async import AsyncTokenCredential

__all__ = ["ARM_ENDPOINT", "ARM_SCOPE", "ArmClient", "ArmResponse", "bearer_pipeline"]

ARM_ENDPOINT = AZURE_PUBLIC.arm_endpoint
ARM_SCOPE = AZURE_PUBLIC.arm_scope
"""The public cloud's; callers with settings pass ``settings.cloud.arm_scope`` (shared/core/clouds.py)."""


@dataclass(frozen=True, kw_only=True)
class ArmResponse:
    status: int
    headers: Mapping[str, str]
    body: Any
    """The decoded JSON body, or None when the response had none."""

    @property
    def etag(self) -> str | None:
        """The ETag header, else the resource's ``etag`` property (ARM puts it in both)."""
        if self.headers.get("etag"):
            return self.headers["etag"]
        return str(self.body["etag"]) if isinstance(self.body, dict) and self.body.get("etag") else None


def _error_message(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return f"{error.get('code', 'Error')}: {error.get('message', '')}".strip()
    return ""


def bearer_pipeline(credential: TokenCredential | AsyncTokenCredential, scope: str, *,
                    base_url: str) -> AsyncPipelineClient[Any, Any]:
    """An azure-core pipeline that signs every request with a token for *scope*, with request ids, tracing and
    redacted HTTP logging, and no retry policy of its own (the caller's RetryPolicy is the one retry layer)."""
    from azure.core import AsyncPipelineClient
    from azure.core.pipeline.policies import (
        AsyncBearerTokenCredentialPolicy,
        ContentDecodePolicy,
        DistributedTracingPolicy,
        HeadersPolicy,
        HttpLoggingPolicy,
        RequestIdPolicy,
        UserAgentPolicy,
    )

    policies = [
        RequestIdPolicy(), HeadersPolicy(), UserAgentPolicy(sdk_moniker="tokenwarden"),
        AsyncBearerTokenCredentialPolicy(credential, scope),  # type: ignore[arg-type]
        ContentDecodePolicy(), DistributedTracingPolicy(), HttpLoggingPolicy(),
    ]
    return AsyncPipelineClient(base_url=base_url, policies=policies)


class ArmClient:
    """One pipeline per run; :meth:`request` raises :class:`UpstreamError` for any status it was not told to accept."""

    def __init__(self, credential: TokenCredential | AsyncTokenCredential, *, endpoint: str = ARM_ENDPOINT,
                 retry: RetryPolicy | None = None, timeout: float = 30.0, scope: str = ARM_SCOPE) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._enforce_https = require_tls(self.endpoint, "ARM endpoint")
        self._credential = credential
        self._scope = scope
        self._client: AsyncPipelineClient[Any, Any] | None = None
        self.calls = 0

    def _pipeline(self) -> AsyncPipelineClient[Any, Any]:
        if self._client is None:
            self._client = bearer_pipeline(self._credential, self._scope, base_url=self.endpoint)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> ArmClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(self, method: str, path: str, *, api_version: str, body: Any = None,
                      headers: Mapping[str, str] | None = None, accept: frozenset[int] = frozenset(),
                      what: str = "") -> ArmResponse:
        """Send one ARM request with retries; *accept* lists non-2xx statuses returned instead of raised."""
        async for attempt in self.retry.retrying():
            with attempt:
                return await self._once(method, path, api_version=api_version, body=body, headers=headers,
                                        accept=accept, what=what or f"{method} {path}")
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(self, method: str, path: str, *, api_version: str, body: Any, headers: Mapping[str, str] | None,
                    accept: frozenset[int], what: str) -> ArmResponse:
        from azure.core.exceptions import ServiceRequestError, ServiceResponseError
        from azure.core.rest import HttpRequest

        request = HttpRequest(method, f"{self.endpoint}{path}", params={"api-version": api_version},
                              headers={"Accept": "application/json", **(headers or {})},
                              json=body if body is not None else None)
        self.calls += 1
        try:
            response = await self._pipeline().send_request(
                request, enforce_https=self._enforce_https, connection_timeout=min(10.0, self.timeout),
                read_timeout=self.timeout)
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise UpstreamError(f"{what}: {type(exc).__name__}: {exc}") from None
        text = response.text()
        try:
            decoded = json.loads(text) if text.strip() else None
        except ValueError:
            decoded = None
        result = ArmResponse(status=response.status_code, headers={k.lower(): v for k, v in response.headers.items()},
                             body=decoded)
        if 200 <= result.status < 300 or result.status in accept:
            return result
        hint = parse_retry_after(result.headers.get("retry-after"))
        detail = _error_message(decoded)
        message = f"{what}: ARM answered {result.status}" + (f" ({detail})" if detail else "")
        if result.status == 429:
            raise ThrottledError(message, status=429, retry_after=hint)
        raise UpstreamError(message, status=result.status, retry_after=hint)
