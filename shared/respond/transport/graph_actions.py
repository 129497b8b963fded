"""The Graph calls response steps make, each behind a client-side limiter and one retry layer.

The SDK's own retry handler is turned off for this client (``sdk_retries=False``)
so attempts are not multiplied: tenacity retries here, honouring Retry-After, and
the token buckets keep a large incident at Graph's documented rate.

A write whose answer never came (the connection dropped, the read timed out, a gateway answered 500, 502 or
504) may have been applied. Before such a write is sent again, the target's state is read where Graph
exposes it: ``signInSessionsValidFromDateTime`` for a revoke (Graph sets it to the time of the revoke:
https://learn.microsoft.com/graph/api/user-revokesigninsessions), ``accountEnabled`` for a disable
(https://learn.microsoft.com/graph/api/user-update), the risky user's ``riskState`` for confirmCompromised
(``confirmedCompromised``: https://learn.microsoft.com/graph/api/resources/riskyuser and
https://learn.microsoft.com/graph/api/riskyuser-get). A write found applied is not sent again, and what was
found is returned for the action record; one whose state cannot be read is not sent blindly either: it
fails with :class:`UnverifiedWriteError`, and the next run reads again before it acts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from shared.core.errors import ThrottledError, TokenwardenError, UpstreamError
from shared.core.guids import is_guid
from shared.respond.transport.ratelimit import TokenBucket
from shared.respond.transport.retry import RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

__all__ = [
    "CONFIRMED_COMPROMISED",
    "CONFIRM_BATCH",
    "GraphActions",
    "UnverifiedWriteError",
    "UserState",
    "WriteOutcome",
]

T = TypeVar("T")
CONFIRM_BATCH = 60
"""User ids per confirmCompromised call: Identity Protection's 1 request/s makes batching the throughput."""
CONFIRMED_COMPROMISED = "confirmedCompromised"
CLOCK_SKEW = timedelta(minutes=2)
"""How far Graph's clock may be behind ours when a revoke's time is compared with when we sent it."""
AMBIGUOUS_STATUSES = frozenset({500, 502, 504})
"""Answers after which a write may or may not have been applied (503 and 429 say it was refused)."""


class UnverifiedWriteError(TokenwardenError):
    """A write's answer was lost and the target's state could not be read: it is not sent again blindly."""


@dataclass(frozen=True, kw_only=True)
class WriteOutcome:
    """``verified``: an earlier attempt's lost answer was found applied, so nothing was re-sent."""

    verified: bool = False
    found: Mapping[str, Any] = field(default_factory=dict)

    def detail(self) -> dict[str, Any]:
        return {"verified_after_lost_answer": True, "found": dict(self.found)} if self.verified else {}


Probe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]
"""Reads the target: (the write is in effect, what was found)."""


def _ambiguous(error: Exception) -> bool:
    return isinstance(error, UpstreamError) and not isinstance(error, ThrottledError) and (
        error.status is None or error.status in AMBIGUOUS_STATUSES)


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

    async def _write(self, family: str, make: Callable[[], Awaitable[object]], what: str, probe: Probe) -> WriteOutcome:
        """Send a write with retries; after an attempt whose answer was lost, *probe* before sending again."""
        async for attempt in self.retry.retrying(sleep=self._sleep):
            with attempt:
                await self.limiters[family].acquire()
                self.calls += 1
                try:
                    await make()
                    return WriteOutcome()
                except Exception as exc:
                    error = _as_upstream(exc, what)
                if _ambiguous(error):
                    try:
                        applied, found = await probe()
                    except UpstreamError as exc:
                        raise UnverifiedWriteError(f"{what}: the answer was lost ({error}) and the target could not "
                                                   f"be read ({exc}); not sent again") from None
                    if applied:
                        return WriteOutcome(verified=True, found=found)
                raise error
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def risk_state(self, user_id: str) -> str | None:
        """The risky user's ``riskState`` (``confirmedCompromised`` once confirmed), None if there is none."""
        try:
            risky: Any = await self._call(
                "identity_protection",
                lambda: self.client.identity_protection.risky_users.by_risky_user_id(user_id).get(),
                f"read risky user {user_id}")
        except UpstreamError as exc:
            if exc.status == 404:
                return None
            raise
        state = getattr(risky, "risk_state", None)
        return None if state is None else str(getattr(state, "value", state))

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

    async def sessions_revoked_since(self, user_id: str, since: datetime) -> tuple[bool, dict[str, Any]]:
        """Whether the user's sessions were revoked at or after *since* (less :data:`CLOCK_SKEW`)."""
        state = await self.user_state(user_id)
        valid_from = state.sessions_valid_from
        found = {"signInSessionsValidFromDateTime": valid_from.isoformat() if valid_from else None}
        return valid_from is not None and valid_from >= since - CLOCK_SKEW, found

    async def revoke_sessions(self, user_id: str) -> WriteOutcome:
        sent = datetime.now(UTC)
        return await self._write("identity_write",
                                 self.client.users.by_user_id(user_id).revoke_sign_in_sessions.post,
                                 f"revoke sessions of {user_id}",
                                 lambda: self.sessions_revoked_since(user_id, sent))

    async def disable_user(self, user_id: str) -> WriteOutcome:
        from msgraph.generated.models.user import User

        async def disabled() -> tuple[bool, dict[str, Any]]:
            state = await self.user_state(user_id)
            return state.account_enabled is False, {"accountEnabled": state.account_enabled}

        return await self._write("identity_write", lambda: self.client.users.by_user_id(user_id).patch(
            User(account_enabled=False)), f"disable {user_id}", disabled)

    async def confirm_compromised(self, user_ids: Sequence[str]) -> list[WriteOutcome]:
        """Confirm in batches of :data:`CONFIRM_BATCH`; returns how each call ended, one per call made.

        The call takes user object ids only (riskyuser-confirmcompromised: ``userIds``); resolve UPNs first
        (:meth:`resolve_user_id`).

        A batch whose answer was lost is read back user by user; it counts as applied only when every user in
        it is ``confirmedCompromised`` (the call is all-or-nothing for a batch).
        """
        from msgraph.generated.identity_protection.risky_users.confirm_compromised.confirm_compromised_post_request_body import (  # noqa: E501
            ConfirmCompromisedPostRequestBody,
        )

        outcomes = []
        for start in range(0, len(user_ids), CONFIRM_BATCH):
            chunk = list(user_ids[start:start + CONFIRM_BATCH])
            body = ConfirmCompromisedPostRequestBody(user_ids=chunk)

            async def post(body: ConfirmCompromisedPostRequestBody = body) -> None:
                await self.client.identity_protection.risky_users.confirm_compromised.post(body)

            async def confirmed(chunk: list[str] = chunk) -> tuple[bool, dict[str, Any]]:
                states = {user: await self.risk_state(user) for user in chunk}
                return all(s == CONFIRMED_COMPROMISED for s in states.values()), {"riskState": states}

            outcomes.append(await self._write("identity_protection", post, f"confirm {len(chunk)} users compromised",
                                              confirmed))
        return outcomes
