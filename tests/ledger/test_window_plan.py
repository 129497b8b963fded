"""Window planning: overlap, ingestion delay, chunks, the per-invocation bound, and no gaps ever."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import ConfigurationError
from shared.detect.logsources.base import TimeRange
from shared.jobs.checkpoints import ScanPolicy, plan_windows
from tests.support.findings import T0

POLICY = ScanPolicy()  # the defaults: 10 min overlap, 5 min delay, 1 h chunks, 24 chunks, 1 h first lookback


def test_a_rule_scans_from_watermark_minus_overlap_to_now_minus_delay() -> None:
    plan = plan_windows(T0, now=T0 + timedelta(minutes=5) + timedelta(minutes=5), policy=POLICY)
    assert plan.windows == (TimeRange(start=T0 - timedelta(minutes=10), end=T0 + timedelta(minutes=5)),)
    assert plan.caught_up


def test_without_a_checkpoint_the_first_scan_looks_back_scan_lookback() -> None:
    plan = plan_windows(None, now=T0, policy=POLICY)
    assert plan.windows == (TimeRange(start=T0 - timedelta(minutes=65), end=T0 - timedelta(minutes=5)),)


def test_nothing_is_scanned_before_new_data_has_settled() -> None:
    assert plan_windows(T0, now=T0 + timedelta(minutes=4), policy=POLICY).windows == ()


def test_a_three_hour_outage_is_scanned_in_hour_chunks_without_gaps() -> None:
    plan = plan_windows(T0, now=T0 + timedelta(hours=3), policy=POLICY)
    assert [(w.start - T0, w.end - T0) for w in plan.windows] == [
        (timedelta(minutes=-10), timedelta(minutes=50)),
        (timedelta(minutes=50), timedelta(minutes=110)),
        (timedelta(minutes=110), timedelta(minutes=170)),
        (timedelta(minutes=170), timedelta(minutes=175)),
    ]
    assert plan.caught_up


def test_a_backlog_beyond_the_chunk_bound_is_left_for_the_next_invocation() -> None:
    policy = ScanPolicy(max_chunks=2)
    plan = plan_windows(T0, now=T0 + timedelta(days=2), policy=policy)
    assert len(plan.windows) == 2 and not plan.caught_up
    follow_up = plan_windows(plan.windows[-1].end, now=T0 + timedelta(days=2), policy=policy)
    assert follow_up.windows[0].start == plan.windows[-1].end - policy.overlap


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_chunk": timedelta(0)}, "SCAN_MAX_CHUNK"),
    ({"max_chunks": 0}, "SCAN_MAX_CHUNKS"),
    ({"overlap": timedelta(minutes=-1)}, "overlap"),
    ({"overlap": timedelta(minutes=10), "max_chunk": timedelta(minutes=10)},
     r"SCAN_MAX_CHUNK \(10m\) must be longer than SCAN_OVERLAP \(10m\), or a scan could never advance"),
])
def test_impossible_policies_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        ScanPolicy(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=200)
@given(
    gaps=st.lists(st.integers(0, 600), min_size=1, max_size=30),
    overlap=st.integers(0, 30),
    delay=st.integers(0, 15),
    extra=st.integers(1, 120),
    max_chunks=st.integers(1, 5),
)
def test_timers_at_any_times_cover_every_minute_once_the_backlog_clears(
        gaps: list[int], overlap: int, delay: int, extra: int, max_chunks: int) -> None:
    """Timers fire after arbitrary gaps (missed, late, long outages); each stores its chunks and advances."""
    policy = ScanPolicy(overlap=timedelta(minutes=overlap), ingestion_delay=timedelta(minutes=delay),
                        max_chunk=timedelta(minutes=overlap + extra), max_chunks=max_chunks)
    now, watermark = T0, None
    scanned: list[TimeRange] = []
    for gap in gaps:
        now += timedelta(minutes=gap)
        plan = plan_windows(watermark, now=now, policy=policy)
        for window in plan.windows:
            assert window.end - window.start <= policy.max_chunk
            assert window.end <= now - policy.ingestion_delay
            if watermark is not None:
                assert window.start <= watermark  # never a gap after what was stored
                assert window.end > watermark  # and always progress
            watermark = window.end
            scanned.append(window)
    # Keep firing at the last instant until caught up: every minute from the first start is covered.
    while (plan := plan_windows(watermark, now=now, policy=policy)).windows:
        for window in plan.windows:
            assert watermark is None or window.start <= watermark
            watermark = window.end
            scanned.append(window)
    if scanned:
        assert watermark == now - policy.ingestion_delay
        covered_to = scanned[0].start
        for window in scanned:
            assert window.start <= covered_to
            covered_to = max(covered_to, window.end)
        assert covered_to == now - policy.ingestion_delay
