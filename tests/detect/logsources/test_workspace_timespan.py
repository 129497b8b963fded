"""The request ``timespan``: every ISO 8601 interval form the API takes, including what the SDK sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.monitor.query._helpers import construct_iso8601

from shared.detect.logsources.base import TimeRange
from shared.detect.logsources.duckdb.timespan import TimespanError, intersect, parse_duration, parse_timespan

NOW = datetime(2026, 11, 19, 12, 0, tzinfo=UTC)
START = datetime(2026, 11, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H", TimeRange(start=NOW - timedelta(hours=1), end=NOW)),
        ("P1D", TimeRange(start=NOW - timedelta(days=1), end=NOW)),
        ("P1DT12H", TimeRange(start=NOW - timedelta(hours=36), end=NOW)),
        ("P2W", TimeRange(start=NOW - timedelta(days=14), end=NOW)),
        ("PT0.5S", TimeRange(start=NOW - timedelta(milliseconds=500), end=NOW)),
        (
            "2026-11-19T00:00:00Z/2026-11-19T01:30:00.1234567Z",
            TimeRange(start=START, end=START + timedelta(hours=1, minutes=30, microseconds=123456)),
        ),
        ("2026-11-19/2026-11-20", TimeRange(start=START, end=START + timedelta(days=1))),
        ("2026-11-19T02:00:00+02:00/PT1H", TimeRange(start=START, end=START + timedelta(hours=1))),
        ("PT1H/2026-11-19T01:00:00Z", TimeRange(start=START, end=START + timedelta(hours=1))),
    ],
)
def test_interval_forms(text: str, expected: TimeRange) -> None:
    assert parse_timespan(text, now=NOW) == expected


@pytest.mark.parametrize(
    "timespan",
    [
        (START, START + timedelta(hours=2, microseconds=5)),
        (START, timedelta(hours=1)),
        timedelta(days=1),
        timedelta(seconds=90.5),
    ],
)
def test_what_azure_monitor_query_sends_is_understood(timespan: object) -> None:
    text = construct_iso8601(timespan)
    parsed = parse_timespan(text, now=NOW)
    if isinstance(timespan, timedelta):
        assert parsed == TimeRange(start=NOW - timespan, end=NOW)
    else:
        start, second = timespan  # type: ignore[misc]
        end = second if isinstance(second, datetime) else start + second
        assert parsed == TimeRange(start=start, end=end)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("", "empty"),
        ("P", "not an ISO 8601 duration"),
        ("PT", "not an ISO 8601 duration"),
        ("P1M", "years or months"),
        ("P1Y", "years or months"),
        ("yesterday", "neither an interval"),
        ("2026-13-01/P1D", "not an ISO 8601 date"),
        ("PT1H/nope", "not an ISO 8601 date"),
        ("-PT1H", "neither an interval"),
    ],
)
def test_invalid_timespans(text: str, pattern: str) -> None:
    with pytest.raises(TimespanError, match=pattern):
        parse_timespan(text, now=NOW)


def test_duration_units() -> None:
    assert parse_duration("P1W2DT3H4M5.5S") == timedelta(days=9, hours=3, minutes=4, seconds=5.5)


def test_intersection() -> None:
    a = TimeRange(start=START, end=START + timedelta(hours=2))
    b = TimeRange(start=START + timedelta(hours=1), end=START + timedelta(hours=3))
    assert intersect(a, b) == TimeRange(start=START + timedelta(hours=1), end=START + timedelta(hours=2))
    assert intersect(a, None) == a
    assert intersect(None, b) == b
    assert intersect(None, None) is None
    far = TimeRange(start=START + timedelta(days=1), end=START + timedelta(days=2))
    empty = intersect(a, far)
    assert empty is not None
    assert empty.start == empty.end
