"""Client-side rate limits that mirror Graph's documented ones, so a large incident runs at the limit, not into it.

Graph meters identity writes at 3,000 requests per 150 seconds per app and
tenant, and Identity Protection at one request per second per tenant. A token
bucket per API family, shared by every task of a run, gives each request its
send time (an absolute schedule, so a busy machine's scheduling jitter does not
add up), paced a little under the documented rate and spending only part of the
documented burst; a 429 then means the budget was shared with someone else, and
the retry layer handles it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

__all__ = ["CLIENT_BURST", "CLIENT_HEADROOM", "GRAPH_LIMITS", "RateLimit", "TokenBucket", "limiters"]


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
    """A token bucket that hands out send times: it starts holding ``burst`` tokens (the limit's capacity unless
    told) and refills continuously at the limit's rate.

    Each :meth:`acquire` reserves the earliest instant at which the bucket holds its cost and sleeps until that
    absolute instant (the generic cell rate algorithm: one number, the time at which the bucket would be full
    again, ``_full_at``). The schedule is computed from the bucket alone, never from when an earlier caller
    woke up, so scheduling jitter on a busy machine delays single sends but does not accumulate, and callers do
    not queue behind a lock held across a sleep: every waiter sleeps to its own slot at once. A caller
    cancelled while waiting leaves its slot unused (the schedule only ever errs on the slow side).
    """

    limit: RateLimit
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    burst: float | None = None
    """Tokens the bucket holds when full; at most the limit's capacity (the default). A client keeps it below
    the service's capacity so that requests reaching the service bunched up by network or scheduling jitter
    still find tokens there (:data:`CLIENT_BURST`)."""
    _full_at: float = field(init=False)

    def __post_init__(self) -> None:
        capacity = self.limit.requests
        self.burst = capacity if self.burst is None else min(capacity, max(1.0, self.burst))
        self._full_at = self.clock()  # starts full

    def _earliest(self, cost: float, now: float) -> float:
        """When the bucket next holds *cost* tokens: it holds ``burst - (full_at - t) * rate`` at time t."""
        assert self.burst is not None
        slot = self._full_at - (self.burst - cost) / self.limit.rate
        return slot if slot > now + 1e-9 else now  # the epsilon: float sums land a hair past the instant

    def _check(self, cost: float) -> None:
        assert self.burst is not None
        if cost > self.burst:
            raise ValueError(f"cost {cost} exceeds the bucket's capacity {self.burst}")

    async def _sleep_until(self, instant: float) -> None:
        pause = instant - self.clock()
        if pause > 0:
            await self.sleep(pause)

    async def ready(self, cost: float = 1.0) -> None:
        """Wait until *cost* tokens are available without taking them: a caller can fill a batch meanwhile."""
        self._check(cost)
        while (slot := self._earliest(cost, self.clock())) > self.clock():
            await self._sleep_until(slot)

    async def acquire(self, cost: float = 1.0) -> float:
        """Reserve the earliest slot for *cost* tokens and wait until it; returns the seconds it waited for."""
        self._check(cost)
        now = self.clock()
        slot = self._earliest(cost, now)  # reserved before any await: no two callers get the same tokens
        self._full_at = max(self._full_at, slot) + cost / self.limit.rate
        await self._sleep_until(slot)
        return slot - now


CLIENT_HEADROOM: Mapping[str, float] = {"identity_read": 0.97, "identity_write": 0.97, "identity_protection": 0.9}
"""The share of a documented limit's *rate* the client paces itself to, so the service's bucket gains a little
slack for as long as the client sends. A one-request bucket (Identity Protection) has no burst to absorb
jitter, so it keeps a wider margin; it is not the binding limit of a large incident anyway (sixty users per
call)."""
CLIENT_BURST = 0.5
"""The share of a documented limit's *burst* the client spends at once. Requests reach Graph with jitter: two
sent 50 ms apart may arrive together. A client that empties its bucket when Graph's is empty too (the start of
a large incident) has every bunched arrival come back 429; one that keeps half the burst unspent leaves Graph's
bucket that many tokens ahead, which absorbs half a second of bunching at the full rate. It costs at most half
a second of burst, once per run."""


def limiters(scale: float = 1.0, limits: Mapping[str, RateLimit] = GRAPH_LIMITS, *,
             headroom: Mapping[str, float] = CLIENT_HEADROOM, burst: float = CLIENT_BURST) -> dict[str, TokenBucket]:
    """One bucket per family; *scale* multiplies the allowance (the benchmark's known factor)."""
    return {family: TokenBucket(RateLimit(requests=limit.requests * scale,
                                          per_seconds=limit.per_seconds / headroom.get(family, 1.0)),
                                burst=limit.requests * scale * burst)
            for family, limit in limits.items()}
