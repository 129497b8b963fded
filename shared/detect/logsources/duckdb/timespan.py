"""The ``timespan`` of a Log Analytics query request, parsed as the service reads it.

The API takes an ISO 8601 time interval: ``start/end``, ``start/duration``,
``duration/end``, or a bare ``duration`` meaning the period ending now (the
SDK sends ``PT3600.0S`` for ``timedelta(hours=1)`` and
``2026-11-19T00:00:00.000Z/2026-11-19T01:00:00.000Z`` for a pair). A timespan
given both in the query string and the JSON body applies as the intersection
of the two. Years and months are refused: their length depends on the
calendar, and a silent guess would move the window.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from shared.detect.kql.wire import parse_datetime
from shared.detect.logsources.base import TimeRange

__all__ = ["TimespanError", "intersect", "parse_duration", "parse_timespan"]

_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"^P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$",
    re.IGNORECASE,
)


class TimespanError(ValueError):
    """The timespan text is not an ISO 8601 interval or duration the service accepts."""


def parse_timespan(text: str, *, now: datetime) -> TimeRange:
    """``text`` as a half-open range; ``now`` (aware) anchors a bare duration."""
    value = text.strip()
    if not value:
        raise TimespanError("timespan is empty")
    if "/" not in value:
        if not value[:1].upper() == "P":
            raise TimespanError(f"{text!r} is neither an interval (start/end) nor a duration (PT1H)")
        return TimeRange(start=now - parse_duration(value), end=now)
    first, _, second = value.partition("/")
    first, second = first.strip(), second.strip()
    if first[:1].upper() == "P":
        end = _instant(second)
        return TimeRange(start=end - parse_duration(first), end=end)
    start = _instant(first)
    if second[:1].upper() == "P":
        return TimeRange(start=start, end=start + parse_duration(second))
    return TimeRange(start=start, end=_instant(second))


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration in weeks, days, hours, minutes and (fractional) seconds."""
    match = _DURATION.match(text.strip())
    if match is None or not any(match.groups()) or text.strip().upper().endswith("T"):
        raise TimespanError(f"{text!r} is not an ISO 8601 duration such as PT1H or P1D")
    years, months, weeks, days, hours, minutes, seconds = (
        float(part.replace(",", ".")) if part else 0.0 for part in match.groups()
    )
    if years or months:
        raise TimespanError(f"{text!r}: durations in years or months are not supported; use days")
    try:
        return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        raise TimespanError(f"{text!r} is too long a duration") from None


def intersect(first: TimeRange | None, second: TimeRange | None) -> TimeRange | None:
    """Both ranges at once; an empty intersection is an empty range at the later start."""
    if first is None:
        return second
    if second is None:
        return first
    start = max(first.start, second.start)
    end = max(start, min(first.end, second.end))
    return TimeRange(start=start, end=end)


def _instant(text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError:
        raise TimespanError(f"{text!r} is not an ISO 8601 date or time") from None
