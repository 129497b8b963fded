"""Token-bucket throttling per API family, with Graph's documented defaults.

Graph throttles each service separately (``concepts/throttling-limits.md``):

* identity and access (users, groups, directory roles, service principals):
  a token bucket of *resource units* per application+tenant pair, 3,500 /
  5,000 / 8,000 per 10 seconds for tenants under 50 / 50-500 / over 500 users.
  Requests cost resource units (``GET users`` 2, ``memberOf`` 2, most others 1;
  ``$select`` -1, ``$top`` under 20 -1, ``$expand`` +1, never below 1);
  429 answers carry ``Retry-After``.
* identity writes (POST, PATCH, PUT, DELETE on identity routes) are metered
  again, 3,000 requests per 150 seconds per app and tenant, on top of the
  resource units (the write limit in the same table);
* identity protection and conditional access (riskyUsers): 1 request per second
  per tenant for all apps, and its 429 answers carry **no** ``Retry-After``.

Azure Resource Manager throttles per subscription and principal with token buckets
(``articles/azure-resource-manager/management/request-limits-and-throttling.md`` in
MicrosoftDocs/azure-docs): reads 250 tokens refilled at 25 per second, writes 200 at 10
per second; its 429 answers carry ``Retry-After``.

A limit's ``retry_after`` is an honest promise: the whole seconds until the
bucket holds the request's cost again (at least 1). ``fractional_retry_after``
sends decimals instead, as Graph's own documentation sample does (``2.128``);
kiota's retry handler cannot parse those and falls back to its backoff.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "ARM_READ",
    "ARM_WRITE",
    "IDENTITY",
    "IDENTITY_PROTECTION",
    "IDENTITY_WRITE",
    "ThrottleDecision",
    "ThrottleLimit",
    "Throttler",
    "default_limits",
    "identity_cost",
]

IDENTITY = "identity"
IDENTITY_PROTECTION = "identityProtection"
IDENTITY_WRITE = "identityWrite"
ARM_READ = "armRead"
ARM_WRITE = "armWrite"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

Clock = Callable[[], float]


@dataclass(frozen=True, kw_only=True)
class ThrottleLimit:
    capacity: float
    """Tokens (requests or resource units) a full bucket holds: the burst allowed."""
    per_seconds: float
    """Seconds to refill an empty bucket: ``capacity / per_seconds`` tokens per second."""
    retry_after: bool = True
    fractional_retry_after: bool = False
    charge_throttled: bool = False
    """Whether refused requests still consume tokens, as Graph says usage accrues while throttled."""
    message: str = "Please retry again later."
    detailed_inner_error: bool = True
    """Graph's identity 429 adds ``code``, ``message`` and ``status`` to ``innerError``."""

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.per_seconds <= 0:
            raise ValueError("capacity and per_seconds must be positive")

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    wait_seconds: float = 0.0
    """When refused: seconds until the bucket holds the request's cost again."""
    limit: ThrottleLimit | None = None

    def retry_after_header(self) -> str | None:
        if self.allowed or self.limit is None or not self.limit.retry_after:
            return None
        if self.limit.fractional_retry_after:
            return f"{max(self.wait_seconds, 0.001):.3f}"
        return str(max(1, math.ceil(self.wait_seconds)))


def default_limits(user_count: int) -> dict[str, ThrottleLimit]:
    """Graph's documented limits for a tenant of ``user_count`` users."""
    units = 3_500 if user_count < 50 else 5_000 if user_count <= 500 else 8_000
    return {
        IDENTITY: ThrottleLimit(capacity=units, per_seconds=10.0),
        IDENTITY_WRITE: ThrottleLimit(capacity=3_000, per_seconds=150.0),
        IDENTITY_PROTECTION: ThrottleLimit(capacity=1, per_seconds=1.0, retry_after=False,
                                           message="Too many requests.", detailed_inner_error=False),
        ARM_READ: ThrottleLimit(capacity=250, per_seconds=10.0),
        ARM_WRITE: ThrottleLimit(capacity=200, per_seconds=20.0),
    }


def identity_cost(base: int, option_names: frozenset[str], top: int | None) -> int:
    """Resource units of an identity request, from its base cost and query options (never below 1)."""
    cost = base
    if "$select" in option_names:
        cost -= 1
    if "$expand" in option_names:
        cost += 1
    if top is not None and top < 20:
        cost -= 1
    return max(1, cost)


class _Bucket:
    def __init__(self, limit: ThrottleLimit, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.capacity)
        self.updated = now

    def take(self, cost: float, now: float) -> ThrottleDecision:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.limit.capacity), self.tokens + elapsed * self.limit.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return ThrottleDecision(True, limit=self.limit)
        if self.limit.charge_throttled:
            self.tokens -= cost
        needed = min(cost, float(self.limit.capacity)) - self.tokens
        return ThrottleDecision(False, wait_seconds=needed / self.limit.rate, limit=self.limit)


class Throttler:
    """One bucket per family; a family without a limit is never throttled. Thread-safe."""

    def __init__(self, limits: Mapping[str, ThrottleLimit | None], *, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        for family, limit in limits.items():
            self.set_limit(family, limit)

    def set_limit(self, family: str, limit: ThrottleLimit | None) -> None:
        """Replace a family's limit (a full bucket), or remove it with ``None``."""
        with self._lock:
            if limit is None:
                self._buckets.pop(family, None)
            else:
                self._buckets[family] = _Bucket(limit, self._clock())

    def limits(self) -> dict[str, ThrottleLimit]:
        with self._lock:
            return {family: bucket.limit for family, bucket in self._buckets.items()}

    def check(self, family: str, cost: float) -> ThrottleDecision:
        with self._lock:
            bucket = self._buckets.get(family)
            if bucket is None:
                return ThrottleDecision(True)
            return bucket.take(cost, self._clock())

    def tokens(self, family: str) -> float | None:
        """The tokens left in a family's bucket now (for tests and the control endpoint)."""
        with self._lock:
            bucket = self._buckets.get(family)
            if bucket is None:
                return None
            bucket.take(0, self._clock())
            return bucket.tokens

    def refill(self) -> None:
        """Fill every bucket, as if the clients had been quiet for a long time."""
        with self._lock:
            now = self._clock()
            for family, bucket in list(self._buckets.items()):
                self._buckets[family] = _Bucket(bucket.limit, now)
