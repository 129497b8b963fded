"""Result-cell encoding as the Log Analytics API writes it, and decoding what the SDK hands back."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from azure.monitor.query._helpers import native_col_type

from shared.detect.kql.wire import decode_cell, encode_cell, format_datetime, format_timespan, parse_timespan


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2000, 1, 2, 3, 4, 5, tzinfo=UTC), "2000-01-02T03:04:05Z"),  # as in a recorded response
        (datetime(2022, 11, 9, 7, 39, 9, 577655, tzinfo=UTC), "2022-11-09T07:39:09.577655Z"),
        (datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC), "2026-01-01T00:00:00.5Z"),
    ],
)
def test_datetime_format(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=1), "01:00:00"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=500000), "1.02:03:04.5000000"),
        (timedelta(seconds=-1), "-00:00:01"),
        (timedelta(0), "00:00:00"),
    ],
)
def test_timespan_format_and_parse(value: timedelta, text: str) -> None:
    assert format_timespan(value) == text
    assert parse_timespan(text) == value


CELLS = [
    ("datetime", datetime(2026, 11, 19, 0, 10, 0, 123456, tzinfo=UTC)),
    ("dynamic", {"aud": ["x", "é"], "n": 1, "nested": {"ok": True}}),
    ("dynamic", ["a", 'b"c']),
    ("dynamic", "just a string"),
    ("timespan", timedelta(days=3, microseconds=10)),
    ("guid", "12345678-1234-1234-1234-123456789abc"),
    ("real", 1.5),
    ("real", math.inf),
    ("long", 2**62),
    ("int", -5),
    ("bool", True),
    ("string", ""),
    ("decimal", Decimal("1.25")),
    ("long", None),
    ("timespan", None),
    ("guid", None),
    ("dynamic", None),
]


@pytest.mark.parametrize(("kusto_type", "value"), CELLS)
def test_cells_survive_the_sdk_path(kusto_type: str, value: object) -> None:
    """encode -> (what azure-monitor-query does to a cell) -> decode is the identity."""
    through_sdk = native_col_type(kusto_type, encode_cell(kusto_type, value))
    assert decode_cell(kusto_type, through_sdk) == value


def test_nan_survives() -> None:
    decoded = decode_cell("real", native_col_type("real", encode_cell("real", math.nan)))
    assert isinstance(decoded, float)
    assert math.isnan(decoded)


def test_dynamic_is_compact_json_text() -> None:
    assert encode_cell("dynamic", {"a": [1, 2]}) == '{"a":[1,2]}'


def test_seven_digit_fractions_from_the_service_are_read() -> None:
    assert decode_cell("datetime", "2022-11-09T07:39:09.5776558Z") == datetime(
        2022, 11, 9, 7, 39, 9, 577655, tzinfo=UTC
    )
