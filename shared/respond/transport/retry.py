"""Retries for response calls: 429, 5xx, connection errors and timeouts, honouring Retry-After.

One retry layer per call (this one), so nothing multiplies attempts behind our
back: callers build their SDK clients with retries off. Retry-After is read in
both forms RFC 9110 allows, delta-seconds and HTTP-date; the wait gets a little
jitter so a fleet of workers throttled together does not return together, and
the total time spent is capped.
"""

from __future__ import annotations

import email.utils
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_after_delay

from shared.core.errors import ThrottledError, UpstreamError

__all__ = ["RETRYABLE_STATUSES", "RetryPolicy", "is_retryable", "parse_retry_after"]

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value, or None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def is_retryable(error: BaseException) -> bool:
    """Throttling, server errors, timeouts and dropped connections; never 4xx that would fail again."""
    if isinstance(error, UpstreamError):
        return error.status is None or error.status in RETRYABLE_STATUSES
    return isinstance(error, TimeoutError | ConnectionError)


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    max_attempts: int = 6
    max_total_seconds: float = 120.0
    base_backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.1
    """Fraction of the wait added at random (0.1 = up to 10%)."""
    rng: Callable[[], float] = random.random

    def wait_seconds(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        hinted = getattr(error, "retry_after", None)
        if isinstance(hinted, int | float) and hinted >= 0:
            base = float(hinted)
        elif isinstance(error, ThrottledError):
            base = 1.0  # Identity Protection's 429 carries no Retry-After; its limit is 1 request/s
        else:
            base = min(self.max_backoff, self.base_backoff * 2 ** (state.attempt_number - 1))
        return base * (1 + self.jitter * self.rng())

    def retrying(self, *, sleep: Callable[[float], Awaitable[None]] | None = None) -> AsyncRetrying:
        """A tenacity controller; *sleep* is injectable so tests can see the waits without waiting."""
        extra = {"sleep": sleep} if sleep is not None else {}
        return AsyncRetrying(
            **extra,  # type: ignore[arg-type]
            retry=retry_if_exception(is_retryable),
            wait=self.wait_seconds,
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total_seconds),
            reraise=True,
        )
