"""Python values rendered as KQL literals that cannot break out of their quotes.

Strings use the verbatim form ``@"..."``. In Kusto's lexer grammar
(``KqlTokens.g4``: ``'@"' ('""' | ~('"' | '\\r' | '\\n'))* '"'``) the body of
such a literal is any run of characters other than ``"``, CR and LF, plus the
pair ``""`` standing for one quote. The encoder doubles every ``"`` and refuses
CR, LF and every other control or line-separator character, so the body always
matches that rule and the literal ends exactly at the closing quote the encoder
writes; what follows it is always ``,``, ``]`` or a newline it also writes.
Backslashes have no meaning in this form, so there is no escape to get wrong.

Every other type is rendered from a validated Python value (see
:func:`shared.detect.kql.types.normalize_value`) using only digits, fixed keywords and
punctuation, so no caller-controlled text reaches the query outside a verbatim
string.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime, timedelta
from decimal import Decimal

from shared.core.errors import DataError
from shared.detect.kql.types import normalize_value

__all__ = ["format_datetime_literal", "format_timespan_literal", "render_literal", "render_string"]

_LINE_SEPARATORS = frozenset("\u2028\u2029")
_NULL_FORMS = {
    "bool": "bool(null)",
    "datetime": "datetime(null)",
    "decimal": "decimal(null)",
    "dynamic": "dynamic(null)",
    "guid": "guid(null)",
    "int": "int(null)",
    "long": "long(null)",
    "real": "real(null)",
    "timespan": "timespan(null)",
}


def render_literal(kusto_type: str, value: object, *, name: str) -> str:
    """The KQL literal for ``value`` as a ``kusto_type``; raises DataError naming ``name`` if refused."""
    canonical = normalize_value(kusto_type, value, name=name)
    if canonical is None:
        return _NULL_FORMS[kusto_type]
    if kusto_type == "string":
        assert isinstance(canonical, str)
        return render_string(canonical, name=name)
    if kusto_type == "bool":
        return "true" if canonical else "false"
    if kusto_type in ("int", "long"):
        return f"{kusto_type}({canonical})"
    if kusto_type == "real":
        assert isinstance(canonical, float)
        return _real(canonical)
    if kusto_type == "datetime":
        assert isinstance(canonical, datetime)
        return format_datetime_literal(canonical)
    if kusto_type == "timespan":
        assert isinstance(canonical, timedelta)
        return format_timespan_literal(canonical)
    if kusto_type == "dynamic":
        assert isinstance(canonical, tuple)
        items = ", ".join(render_string(item, name=name) for item in canonical)
        return f"dynamic([{items}])"
    if kusto_type == "guid":
        return f"guid({canonical})"
    assert isinstance(canonical, Decimal)
    return f"decimal({canonical})"


def render_string(value: str, *, name: str = "value") -> str:
    """``value`` as a verbatim string literal; refuses characters the form cannot hold."""
    for offset, char in enumerate(value):
        if char in _LINE_SEPARATORS or unicodedata.category(char) in ("Cc", "Cs"):
            raise DataError(
                f"parameter {name}: character U+{ord(char):04X} at position {offset} "
                "cannot be sent in a KQL string literal"
            )
    return '@"' + value.replace('"', '""') + '"'


def format_datetime_literal(value: datetime) -> str:
    """``datetime(2026-11-19T00:00:00.0000000Z)`` for an aware UTC datetime."""
    return (
        f"datetime({value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}0Z)"
    )


def format_timespan_literal(value: timedelta) -> str:
    """``time(1.02:03:04.1234560)`` (days.hours:minutes:seconds.ticks) for a non-negative timedelta."""
    hours, remainder = divmod(value.seconds, 3600)
    minutes, seconds = divmod(remainder, 60)
    return f"time({value.days}.{hours:02d}:{minutes:02d}:{seconds:02d}.{value.microseconds:06d}0)"


def _real(value: float) -> str:
    if math.isnan(value):
        return "real(nan)"
    if math.isinf(value):
        return "real(+inf)" if value > 0 else "real(-inf)"
    return f"real({value!r})"
