"""The Graph calls response steps make, each behind a client-side limiter and one retry layer.

The SDK's own retry handler is turned off for this client (``sdk_retries=False``)
so attempts are not multiplied: tenacity retries here, honouring Retry-After, and
the token buckets keep a large incident at Graph's documented rate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import ThrottledError, UpstreamError
from shared.guids import is_guid
from shared.respond.ratelimit import TokenBucket
from shared.respond.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

__all__ = ["CONFIRM_BATCH", "GraphActions", "UserState"]

T = TypeVar("T")
CONFIRM_BATCH = 60
"""User ids per confirmCompromised call: Identity Protection's 1 request/s makes batching the throughput."""


class UserState:
    def __init__(self, *, exists: bool, account_enabled: bool | None, sessions_valid_from: datetime | None) -> None:
        self.exists = exists
        self.account_enabled = account_enabled
        self.sessions_valid_from = sessions_valid_from


def _as_upstream(error: Exception, what: str) -> Exception:
    from kiota_abstractions.api_error import APIError

    if isinstance(error, APIError):
        status = error.response_status_code
        headers: Mapping[str, str] = error.response_headers or {}
        hint = parse_retry_after(next((v for k, v in headers.items() if k.lower() == "retry-after"), None))
        message = f"{what}: Graph answered {status}"
        if status == 429:
            return ThrottledError(message, status=status, retry_after=hint)
        return UpstreamError(message, status=status, retry_after=hint)
    if isinstance(error, TimeoutError | ConnectionError | OSError):
        return UpstreamError(f"{what}: {type(error).__name__}: {error}")
    name = type(error).__name__
    if name in ("ConnectError", "ReadTimeout", "ConnectTimeout", "RemoteProtocolError", "ReadError"):
        return UpstreamError(f"{what}: {name}: {error}")
    return error


class GraphActions:
    def __init__(self, client: GraphServiceClient, *, limiters: Mapping[str, TokenBucket], retry: RetryPolicy,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.limiters = limiters
        self.retry = retry
        self._sleep = sleep
        self.calls = 0

    async def _call(self, family: str, make: Callable[[], Awaitable[T]], what: str) -> T:
        async for attempt in self.retry.retrying(sleep=self._sleep):
            with attempt:
                await self.limiters[family].acquire()
                self.calls += 1
                try:
                    return await make()
                except Exception as exc:
                    raise _as_upstream(exc, what) from None
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def user_state(self, user_id: str) -> UserState:
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        config = UserItemRequestBuilder.UserItemRequestBuilderGetRequestConfiguration(
            query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(
                select=["id", "accountEnabled", "signInSessionsValidFromDateTime"]))
        try:
            user: Any = await self._call("identity_read", lambda: self.client.users.by_user_id(user_id).get(config),
                                         f"read user {user_id}")
        except UpstreamError as exc:
            if exc.status == 404:
                return UserState(exists=False, account_enabled=None, sessions_valid_from=None)
            raise
        return UserState(exists=True, account_enabled=user.account_enabled,
                         sessions_valid_from=user.sign_in_sessions_valid_from_date_time)

    async def resolve_user_id(self, key: str) -> str | None:
        """The object id of the user known by *key* (an object id or a UPN); None when Graph has no such user."""
        if is_guid(key):
            return key.lower()
        from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

        config = UserItemRequestBuilder.UserItemRequestBuilderGetRequestConfiguration(
            query_parameters=UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=["id"]))
        try:
            user: Any = await self._call("identity_read", lambda: self.client.users.by_user_id(key).get(config),
                                         f"resolve user {key}")
        except UpstreamError as exc:
            if exc.status == 404:
                return None
            raise
        return str(user.id).lower() if user is not None and user.id else None

    async def revoke_sessions(self, user_id: str) -> None:
        await self._call("identity_write", self.client.users.by_user_id(user_id).revoke_sign_in_sessions.post,
                         f"revoke sessions of {user_id}")

    async def disable_user(self, user_id: str) -> None:
        from msgraph.generated.models.user import User

        await self._call("identity_write", lambda: self.client.users.by_user_id(user_id).patch(
            User(account_enabled=False)), f"disable {user_id}")

    async def confirm_compromised(self, user_ids: Sequence[str]) -> int:
        """Confirm in batches of :data:`CONFIRM_BATCH`; returns the number of calls made.

        The call takes user object ids only (riskyuser-confirmcompromised: ``userIds``); resolve UPNs first
        (:meth:`resolve_user_id`).
        """
        from msgraph.generated.identity_protection.risky_users.confirm_compromised.confirm_compromised_post_request_body import (  # noqa: E501
            ConfirmCompromisedPostRequestBody,
        )

        calls = 0
        for start in range(0, len(user_ids), CONFIRM_BATCH):
            chunk = list(user_ids[start:start + CONFIRM_BATCH])
            body = ConfirmCompromisedPostRequestBody(user_ids=chunk)

            async def post(body: ConfirmCompromisedPostRequestBody = body) -> None:
                await self.client.identity_protection.risky_users.confirm_compromised.post(body)

            await self._call("identity_protection", post, f"confirm {len(chunk)} users compromised")
            calls += 1
        return calls
