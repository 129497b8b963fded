"""Retry-After in both forms, what is and is not retried, and the client-side token buckets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from shared.core.errors import ThrottledError, UpstreamError
from shared.respond.transport.ratelimit import GRAPH_LIMITS, RateLimit, TokenBucket
from shared.respond.transport.retry import RetryPolicy, is_retryable, parse_retry_after

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("header", "seconds"), [
    ("5", 5.0), ("0", 0.0), ("1.5", 1.5), (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
    (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0), ("soon", None), ("", None), (None, None),
])
def test_retry_after_in_seconds_and_http_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(("error", "retryable"), [
    (ThrottledError("429", status=429), True), (UpstreamError("503", status=503), True),
    (UpstreamError("504", status=504), True), (UpstreamError("no answer"), True), (TimeoutError(), True),
    (ConnectionResetError(), True), (UpstreamError("400", status=400), False),
    (UpstreamError("403", status=403), False), (ValueError("bug"), False),
])
def test_what_is_retried(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def _run(policy: RetryPolicy, failures: list[BaseException]) -> tuple[int, list[float], BaseException | None]:
    calls, waits = 0, []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def attempt() -> None:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)

    async def main() -> BaseException | None:
        try:
            async for trying in policy.retrying(sleep=sleep):
                with trying:
                    await attempt()
        except BaseException as exc:
            return exc
        return None

    escaped = asyncio.run(main())
    return calls, waits, escaped


def test_retry_after_is_honoured_with_bounded_jitter() -> None:
    policy = RetryPolicy(jitter=0.1, rng=lambda: 1.0)
    calls, waits, escaped = _run(policy, [ThrottledError("429", status=429, retry_after=7),
                                          UpstreamError("503", status=503, retry_after=2)])
    assert escaped is None and calls == 3
    assert waits == pytest.approx([7.7, 2.2])


def test_throttling_without_a_hint_waits_a_second_and_5xx_backs_off() -> None:
    policy = RetryPolicy(jitter=0.0, base_backoff=0.5)
    _, waits, _ = _run(policy, [ThrottledError("429", status=429), UpstreamError("500", status=500),
                                UpstreamError("502", status=502)])
    assert waits == [1.0, 1.0, 2.0]


def test_a_client_error_is_not_retried() -> None:
    calls, waits, escaped = _run(RetryPolicy(), [UpstreamError("400 bad request", status=400)])
    assert calls == 1 and waits == [] and isinstance(escaped, UpstreamError)


def test_attempts_are_capped() -> None:
    calls, _, escaped = _run(RetryPolicy(max_attempts=3), [UpstreamError("503", status=503)] * 10)
    assert calls == 3 and isinstance(escaped, UpstreamError)


def test_total_time_is_capped() -> None:
    policy = RetryPolicy(max_attempts=100, max_total_seconds=0.0)
    calls, _, escaped = _run(policy, [UpstreamError("503", status=503)] * 10)
    assert calls == 1 and isinstance(escaped, UpstreamError)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(RateLimit(requests=3000, per_seconds=150), clock=clock, sleep=clock.sleep)

    async def take(n: int) -> float:
        return sum([await bucket.acquire() for _ in range(n)])

    assert asyncio.run(take(3000)) == 0.0  # the documented burst
    waited = asyncio.run(take(200))  # then 20 requests per second
    assert clock.now == pytest.approx(10.0, rel=1e-6)
    assert waited == pytest.approx(10.0, rel=1e-6)


def test_identity_protection_is_one_request_per_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(GRAPH_LIMITS["identity_protection"], clock=clock, sleep=clock.sleep)

    async def take(n: int) -> None:
        for _ in range(n):
            await bucket.acquire()

    asyncio.run(take(5))
    assert clock.now == pytest.approx(4.0)


def test_cost_above_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds the bucket's capacity"):
        asyncio.run(TokenBucket(RateLimit(requests=1, per_seconds=1)).acquire(2))


class LateClock(FakeClock):
    """A busy machine: every sleep wakes *late* seconds after it was due."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    async def sleep(self, seconds: float) -> None:
        self.now += seconds + self.late


def test_late_wakeups_delay_single_sends_but_do_not_add_up() -> None:
    """The schedule comes from the bucket, not from when the previous caller woke: 30 ms late on every wake-up,
    200 sends after the burst still take 200 / rate seconds (plus one lateness), not 200 x (1 / rate + 30 ms)."""
    clock = LateClock(late=0.03)
    bucket = TokenBucket(RateLimit(requests=20, per_seconds=1), clock=clock, sleep=clock.sleep, burst=10)

    async def take(n: int) -> list[float]:
        sent = []
        for _ in range(n):
            await bucket.acquire()
            sent.append(clock.now)
        return sent

    sent = asyncio.run(take(210))
    assert sent[:10] == [0.0] * 10  # the burst
    assert sent[-1] == pytest.approx(200 / 20 + 0.03, abs=1e-6)
    assert sent == sorted(sent)


def test_concurrent_callers_each_get_their_own_slot_at_once() -> None:
    """Every waiter's send time is reserved when it asks, without waiting for the callers before it to wake."""
    clock = FakeClock()
    slots: list[float] = []

    async def no_sleep(seconds: float) -> None:  # time stands still: only the reservations are observed
        slots.append(seconds)

    bucket = TokenBucket(RateLimit(requests=20, per_seconds=1), clock=clock, sleep=no_sleep, burst=5)

    async def many() -> list[float]:
        return list(await asyncio.gather(*(bucket.acquire() for _ in range(45))))

    waits = asyncio.run(many())
    assert waits == pytest.approx([0.0] * 5 + [k / 20 for k in range(1, 41)])


def test_the_engines_buckets_keep_half_of_graphs_burst_in_reserve() -> None:
    """So requests that reach Graph bunched up still find tokens in its bucket (CLIENT_BURST)."""
    from shared.respond.transport.ratelimit import CLIENT_BURST, limiters

    clock = FakeClock()
    bucket = limiters()["identity_write"]
    bucket.clock, bucket.sleep = clock, clock.sleep
    bucket.__post_init__()
    assert bucket.burst == GRAPH_LIMITS["identity_write"].requests * CLIENT_BURST

    async def take(n: int) -> float:
        return sum([await bucket.acquire() for _ in range(n)])

    assert asyncio.run(take(1500)) == 0.0
    assert asyncio.run(take(1)) > 0.0
    assert limiters()["identity_protection"].burst == 1.0  # one request is the least a bucket can hold
