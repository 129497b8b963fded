"""Kusto scalar types of rule parameters, and the Python values each one accepts.

Both backends go through :func:`normalize_value`, so a value the local
workspace would bind is exactly a value Log Analytics would receive as a
literal, and a value one refuses the other refuses too. The accepted shapes are
deliberately narrow: a naive datetime or a float for a ``long`` is a caller
mistake that would otherwise shift a window or truncate a number silently.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.core.errors import DataError

__all__ = ["CANONICAL_TYPES", "canonical_type", "normalize_value"]

CANONICAL_TYPES = frozenset(
    {"bool", "datetime", "decimal", "dynamic", "guid", "int", "long", "real", "string", "timespan"}
)

_ALIASES = {
    "bool": "bool",
    "boolean": "bool",
    "date": "datetime",
    "datetime": "datetime",
    "decimal": "decimal",
    "double": "real",
    "dynamic": "dynamic",
    "guid": "guid",
    "int": "int",
    "int64": "long",
    "long": "long",
    "real": "real",
    "string": "string",
    "time": "timespan",
    "timespan": "timespan",
    "uniqueid": "guid",
}
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def canonical_type(name: str) -> str:
    """``"double"`` -> ``"real"``; raises DataError for a name that is not a parameter type."""
    canonical = _ALIASES.get(name.strip().lower())
    if canonical is None:
        raise DataError(f"{name!r} is not a KQL parameter type")
    return canonical


def normalize_value(kusto_type: str, value: object, *, name: str) -> object:
    """Check ``value`` against ``kusto_type`` and return it in canonical form.

    Canonical forms: aware UTC ``datetime``; non-negative ``timedelta``; ``int``
    within range; ``float``; ``bool``; ``str`` (None becomes ``""``, Kusto's
    only empty string); ``tuple[str, ...]`` or None for ``dynamic``; ``str``
    for ``guid``; ``Decimal``. Raises DataError naming the parameter otherwise.
    """
    if kusto_type not in CANONICAL_TYPES:
        raise DataError(f"parameter {name}: unsupported type {kusto_type!r}")
    if kusto_type == "string":
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        raise _mismatch(name, kusto_type, value)
    if value is None:
        return None
    if kusto_type == "bool":
        if isinstance(value, bool):
            return value
        raise _mismatch(name, kusto_type, value)
    if kusto_type in ("int", "long"):
        return _integer(kusto_type, value, name)
    if kusto_type == "real":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(name, kusto_type, value)
        return float(value)
    if kusto_type == "datetime":
        return _datetime(value, name)
    if kusto_type == "timespan":
        return _timespan(value, name)
    if kusto_type == "dynamic":
        return _string_array(value, name)
    if kusto_type == "guid":
        return _guid(value, name)
    return _decimal(value, name)


def _integer(kusto_type: str, value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _mismatch(name, kusto_type, value)
    low, high = _INT32 if kusto_type == "int" else _INT64
    if not low <= value <= high:
        raise DataError(f"parameter {name}: {value} is out of range for {kusto_type}")
    return value


def _datetime(value: object, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise _mismatch(name, "datetime", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DataError(f"parameter {name}: datetime must be timezone-aware (UTC), got {value.isoformat()}")
    return value.astimezone(UTC)


def _timespan(value: object, name: str) -> timedelta:
    if not isinstance(value, timedelta):
        raise _mismatch(name, "timespan", value)
    if value < timedelta(0):
        raise DataError(f"parameter {name}: a negative timespan ({value}) is not supported")
    return value


def _string_array(value: object, name: str) -> tuple[str, ...]:
    if isinstance(value, str | bytes | bytearray) or not isinstance(value, Sequence):
        raise DataError(f"parameter {name}: dynamic values must be a list of strings, got {_describe(value)}")
    items = tuple(value)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise DataError(f"parameter {name}: element {index} of the dynamic list is {_describe(item)}, not a string")
    return items


def _guid(value: object, name: str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise DataError(f"parameter {name}: {value!r} is not a GUID") from None
    raise _mismatch(name, "guid", value)


def _decimal(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise _mismatch(name, "decimal", value)
    number = Decimal(value)
    if not number.is_finite():
        raise DataError(f"parameter {name}: {value} is not a finite decimal")
    return number


def _mismatch(name: str, kusto_type: str, value: object) -> DataError:
    return DataError(f"parameter {name}: declared {kusto_type}, got {_describe(value)}")


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    if isinstance(value, float) and not math.isfinite(value):
        text = str(value)
    return f"{type(value).__name__} {text}"
