"""Parsing of the times and durations people type: ISO 8601 instants and ``90m``/``24h``/``14d``.

Every instant is returned timezone-aware in UTC, because the rules compare
against ``TimeGenerated``, which is UTC, and a naive datetime would silently
shift by the machine's offset.

Range. Python's ``datetime`` holds years 1 to 9999, and so does Kusto's (MicrosoftDocs/dataexplorer-docs
``data-explorer/kusto/query/scalar-data-types/datetime.md``: 0001-01-01 to 9999-12-31). An instant near either
end overflows (``OverflowError``) as soon as a zone offset, a lookback or an overlap is applied to it, so every
instant a caller, an event or a file gives is checked against :data:`SUPPORTED_FROM` and :data:`SUPPORTED_UNTIL`
first (:func:`supported_instant`): the Unix epoch, before which nothing Tokenwarden reads exists (Key Vault
event times are Unix seconds), to the year 9000, which leaves centuries for any window arithmetic.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["MAX_DURATION", "SUPPORTED_FROM", "SUPPORTED_UNTIL", "format_duration", "parse_duration", "parse_instant",
           "supported_instant"]

SUPPORTED_FROM = datetime(1970, 1, 1, tzinfo=UTC)
SUPPORTED_UNTIL = datetime(9000, 1, 1, tzinfo=UTC)
MAX_DURATION = timedelta(days=3650)
"""Longest duration :func:`parse_duration` returns; no lookback, window or setting needs more than ten years."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> timedelta:
    """``"24h"`` -> 24 hours. Raises ValueError with the offending text."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 90m, 24h or 14d")
    value, unit = float(match.group(1)), match.group(2).lower()
    seconds = value * _UNITS[unit]
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration` for whole units, for messages and docs."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def supported_instant(value: datetime, *, assume_utc: bool = False) -> datetime:
    """*value* in UTC, or ValueError (never OverflowError) if it has no zone or is outside the supported range.

    *assume_utc* reads a naive value as UTC (for data whose format is documented as UTC); a person's input keeps
    it False, because a time without a zone is ambiguous, not UTC.
    """
    if value.tzinfo is None:
        if not assume_utc:
            raise ValueError(f"{value.isoformat()!r} has no time zone; add Z or an offset such as +01:00")
        value = value.replace(tzinfo=UTC)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not SUPPORTED_FROM <= utc < SUPPORTED_UNTIL:
        raise ValueError(f"{value.isoformat()!r} is outside the supported range "
                         f"{SUPPORTED_FROM.date().isoformat()} to {SUPPORTED_UNTIL.date().isoformat()}")
    return utc


def parse_instant(text: str, *, assume_utc: bool = False) -> datetime:
    """An ISO 8601 instant with a zone, in UTC and in the supported range; ValueError otherwise.

    *assume_utc* takes a value without an offset as UTC (see :func:`supported_instant`).
    """
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time such as 2026-11-19T00:00:00Z") from None
    return supported_instant(value, assume_utc=assume_utc)
