"""Client-side rate limits that mirror Graph's documented ones, so a large incident runs at the limit, not into it.

Graph meters identity writes at 3,000 requests per 150 seconds per app and
tenant, and Identity Protection at one request per second per tenant. A token
bucket per API family, shared by every task of a run, spaces requests to fit;
a 429 then means the budget was shared with someone else, and the retry layer
handles it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["GRAPH_LIMITS", "RateLimit", "TokenBucket", "limiters"]


@dataclass(frozen=True, kw_only=True)
class RateLimit:
    requests: float
    per_seconds: float

    @property
    def rate(self) -> float:
        return self.requests / self.per_seconds

    def scaled(self, factor: float) -> RateLimit:
        return RateLimit(requests=self.requests * factor, per_seconds=self.per_seconds)


GRAPH_LIMITS: Mapping[str, RateLimit] = {
    # Reads before a write (is the account already disabled?): the identity read budget of the smallest tenants.
    "identity_read": RateLimit(requests=3500, per_seconds=10),
    "identity_write": RateLimit(requests=3000, per_seconds=150),
    "identity_protection": RateLimit(requests=1, per_seconds=1),
}


@dataclass
class TokenBucket:
    """Starts full (the documented burst) and refills continuously at the limit's rate."""

    limit: RateLimit
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    _tokens: float = field(init=False)
    _updated: float = field(init=False)
    _lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self._tokens = self.limit.requests
        self._updated = self.clock()

    def _refill(self) -> None:
        now = self.clock()
        self._tokens = min(self.limit.requests, self._tokens + (now - self._updated) * self.limit.rate)
        self._updated = now

    async def ready(self, cost: float = 1.0) -> None:
        """Wait until *cost* tokens are available without taking them: a caller can fill a batch meanwhile."""
        async with self._lock:
            self._refill()
            while self._tokens < cost - 1e-9:
                await self.sleep((cost - self._tokens) / self.limit.rate)
                self._refill()

    async def acquire(self, cost: float = 1.0) -> float:
        """Wait until *cost* tokens are available and take them; returns the seconds waited."""
        if cost > self.limit.requests:
            raise ValueError(f"cost {cost} exceeds the bucket's capacity {self.limit.requests}")
        waited = 0.0
        async with self._lock:
            self._refill()
            while self._tokens < cost - 1e-9:  # the epsilon: float refills can land a hair short
                pause = (cost - self._tokens) / self.limit.rate
                await self.sleep(pause)
                waited += pause
                self._refill()
            self._tokens = max(0.0, self._tokens - cost)
        return waited


CLIENT_HEADROOM: Mapping[str, float] = {"identity_read": 0.97, "identity_write": 0.97, "identity_protection": 0.9}
"""The share of a documented limit the client paces itself to. Requests reach Graph with jitter, and a bucket
paced at exactly the limit has some arrive a hair early and come back 429. A one-request bucket (Identity
Protection) has no burst to absorb that jitter, so it keeps a wider margin; it is not the binding limit of a
large incident anyway (sixty users per call)."""


def limiters(scale: float = 1.0, limits: Mapping[str, RateLimit] = GRAPH_LIMITS, *,
             headroom: Mapping[str, float] = CLIENT_HEADROOM) -> dict[str, TokenBucket]:
    """One bucket per family; *scale* multiplies the allowance (the benchmark's known factor)."""
    return {family: TokenBucket(RateLimit(requests=limit.requests * scale,
                                          per_seconds=limit.per_seconds / headroom.get(family, 1.0)))
            for family, limit in limits.items()}
