"""Parsing of the times and durations people type: ISO 8601 instants and ``90m``/``24h``/``14d``.

Every instant is returned timezone-aware in UTC, because the rules compare
against ``TimeGenerated``, which is UTC, and a naive datetime would silently
shift by the machine's offset.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

__all__ = ["format_duration", "parse_duration", "parse_instant"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> timedelta:
    """``"24h"`` -> 24 hours. Raises ValueError with the offending text."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration such as 90m, 24h or 14d")
    value, unit = float(match.group(1)), match.group(2).lower()
    return timedelta(seconds=value * _UNITS[unit])


def format_duration(value: timedelta) -> str:
    """The inverse of :func:`parse_duration` for whole units, for messages and docs."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_instant(text: str) -> datetime:
    """An ISO 8601 instant; a value without an offset is taken as UTC."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(candidate)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time such as 2026-11-19T00:00:00Z") from None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
