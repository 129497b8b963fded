"""Result cells as the Log Analytics query API encodes them in JSON, and back.

One codec, two users: the local HTTP server encodes with it, and the Log
Analytics source decodes what ``azure-monitor-query`` hands back, so a value
survives the trip unchanged and both backends return the same Python types.
The formats follow recorded service responses (``azure-sdk-for-python``
``monitor-query`` test recordings): datetimes as ISO 8601 strings in UTC with a
``Z`` and up to seven fractional digits, ``dynamic`` as compact JSON text inside
a JSON string, timespans in .NET's ``[-][d.]hh:mm:ss[.fffffff]`` form.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

__all__ = [
    "decode_cell",
    "encode_cell",
    "format_datetime",
    "format_dynamic_datetime",
    "format_timespan",
    "parse_datetime",
    "parse_timespan",
]

_TIMESPAN = re.compile(r"^(-)?(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$")
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def encode_cell(kusto_type: str, value: object) -> object:
    """A Python cell (as :class:`shared.detect.logsources.base.ResultTable` holds it) as a JSON value."""
    if value is None:
        return None
    if kusto_type == "datetime" and isinstance(value, datetime):
        return format_datetime(value)
    if kusto_type == "timespan" and isinstance(value, timedelta):
        return format_timespan(value)
    if kusto_type == "dynamic":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if kusto_type == "real" and isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def decode_cell(kusto_type: str, value: object) -> object:
    """A cell from the API (raw JSON, or as ``azure-monitor-query`` pre-processed it) in Python form."""
    if value is None:
        return None
    if kusto_type == "datetime":
        return _decode_datetime(value)
    if kusto_type == "timespan":
        return _decode_timespan(value)
    if kusto_type == "guid":
        # azure-monitor-query passes guid and timespan cells through str(), turning null into "None".
        return None if value == "None" else str(value)
    if kusto_type == "dynamic":
        return _decode_dynamic(value)
    if kusto_type == "real":
        return _decode_real(value)
    if kusto_type == "decimal":
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return value
    if kusto_type == "bool" and isinstance(value, int):
        return bool(value)
    return value


def format_datetime(value: datetime) -> str:
    """``2026-11-19T00:00:00Z`` / ``2022-11-09T07:39:09.5776558Z``: UTC, trailing zeros trimmed."""
    utc = _as_utc(value)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    fraction = f"{utc.microsecond:06d}0".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def format_dynamic_datetime(value: datetime) -> str:
    """A datetime inside a ``dynamic`` value, as Kusto writes it: always seven fractional digits."""
    utc = _as_utc(value)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond:06d}0Z"
    )


def format_timespan(value: timedelta) -> str:
    """.NET ``TimeSpan`` constant format: ``01:00:00``, ``1.02:03:04.5000000``, ``-00:00:01``."""
    total = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if total < 0 else ""
    total = abs(total)
    seconds, micros = divmod(total, 1_000_000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}{days}." if days else sign
    text += f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{micros:06d}0" if micros else text


def parse_timespan(text: str) -> timedelta:
    """Inverse of :func:`format_timespan`; raises ValueError for anything else."""
    match = _TIMESPAN.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a timespan such as 01:00:00 or 1.02:03:04.5")
    negative, days, hours, minutes, seconds, fraction = match.groups()
    ticks = int((fraction or "").ljust(7, "0"))
    span = timedelta(
        days=int(days or 0),
        hours=int(hours),
        minutes=int(minutes),
        seconds=int(seconds),
        microseconds=ticks // 10,
    )
    return -span if negative else span


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 instant (``Z``, an offset, or none meaning UTC) as an aware UTC datetime."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    return _as_utc(datetime.fromisoformat(candidate))


def _decode_datetime(value: object) -> object:
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return value
    return value


def _decode_timespan(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    if value == "None":
        return None
    if isinstance(value, str):
        try:
            return parse_timespan(value)
        except ValueError:
            return value
    return value


def _decode_dynamic(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _decode_real(value: object) -> object:
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
