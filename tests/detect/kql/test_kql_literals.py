"""Literals carry any accepted value exactly, and nothing else, through a real KQL parser.

Every round trip here renders a value into ``declare query_parameters`` with
:func:`bind_parameters`, runs the text on duckdb-kql (a separate,
ANTLR-based KQL implementation) without binding anything, and compares what
comes back. A literal that broke out of its quotes would either fail to parse,
print a different value, or add rows/columns; each test would see it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import duckdb_kql
import pytest

from shared.core.errors import DataError
from shared.detect.kql.literals import render_literal, render_string
from shared.detect.kql.render import bind_parameters

ADVERSARIAL = [
    "",
    "plain",
    '"',
    '""',
    'a"b',
    '"); T | take 1 //',
    '"; print pwned=1; print x="',
    "\\",
    "back\\slash\\",
    '\\"',
    "'",
    "@'",
    '@"',
    "```",
    "~~~",
    "// not a comment",
    'dynamic(["x"])',
    ")",
    "],",
    "é中文😀",
    "\u200b\ufeff\u00a0",  # zero-width / BOM / nbsp: whitespace to the lexer, content inside a string
    "x" * 5000,
    "-- SQL comment'; DROP TABLE T; --",
    "$1 ? :name",
]


@pytest.fixture(scope="module")
def con():  # type: ignore[no-untyped-def]
    connection = duckdb_kql.connect()
    yield connection
    connection.close()


def _run(con, text: str) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    return duckdb_kql.kql(con, text).fetchall()


@pytest.mark.parametrize("value", ADVERSARIAL)
def test_string_round_trips_exactly(con, value: str) -> None:  # type: ignore[no-untyped-def]
    text = bind_parameters('declare query_parameters(s:string = "x");\nprint v = s, n = 1', {"s": value})
    assert _run(con, text) == [(value, 1)]


@pytest.mark.parametrize("value", ADVERSARIAL)
def test_dynamic_string_array_round_trips_exactly(con, value: str) -> None:  # type: ignore[no-untyped-def]
    items = [value, "second", value + '"']
    text = bind_parameters(
        "declare query_parameters(k:dynamic = dynamic([]));\nprint n = array_length(k), a = tostring(k[0]), "
        'b = tostring(k[1]), c = tostring(k[2]), hit = "second" in (k)',
        {"k": items},
    )
    assert _run(con, text) == [(3, items[0], "second", items[2], True)]


def test_seeded_random_strings_round_trip(con) -> None:  # type: ignore[no-untyped-def]
    """Deterministic fuzz over quotes, backslashes, punctuation and assorted printable Unicode."""
    alphabet = "\"'\\@`~/;|()[]{},=*- abcXYZ019é中😀\u200b\ufeff\u2003"
    generator = random.Random(20261119)
    values = ["".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40))) for _ in range(150)]
    declares = ", ".join(f"p{index}:string = ''" for index in range(len(values)))
    projection = ", ".join(f"v{index} = p{index}" for index in range(len(values)))
    text = bind_parameters(
        f"declare query_parameters({declares});\nprint {projection}",
        {f"p{index}": value for index, value in enumerate(values)},
    )
    assert _run(con, text) == [tuple(values)]


@pytest.mark.parametrize(
    "value", ["line\nbreak", "carriage\rreturn", "tab\there", "nul\x00", "bell\x07", "del\x7f", "nel\x85", "ls\u2028"]
)
def test_control_and_line_separator_characters_are_refused(value: str) -> None:
    with pytest.raises(DataError, match=r"parameter s: character U\+[0-9A-F]{4} at position \d+"):
        render_literal("string", value, name="s")
    with pytest.raises(DataError):
        render_literal("dynamic", ["fine", value], name="s")


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(DataError, match="U\\+D800"):
        render_string("a\ud800b", name="s")


def test_verbatim_form_is_used_and_quotes_are_doubled() -> None:
    assert render_string('say "hi" \\o/') == '@"say ""hi"" \\o/"'


@pytest.mark.parametrize(
    ("kusto_type", "value", "expected"),
    [
        ("datetime", datetime(2026, 11, 19, tzinfo=UTC), "datetime(2026-11-19T00:00:00.0000000Z)"),
        (
            "datetime",
            datetime(2026, 11, 19, 2, 30, 1, 123456, tzinfo=timezone(timedelta(hours=2))),
            "datetime(2026-11-19T00:30:01.1234560Z)",
        ),
        ("timespan", timedelta(hours=1), "time(0.01:00:00.0000000)"),
        ("timespan", timedelta(days=14, microseconds=7), "time(14.00:00:00.0000070)"),
        ("bool", True, "true"),
        ("bool", False, "false"),
        ("long", -(2**63), "long(-9223372036854775808)"),
        ("int", 2**31 - 1, "int(2147483647)"),
        ("real", 1.5, "real(1.5)"),
        ("real", 7, "real(7.0)"),
        ("real", float("nan"), "real(nan)"),
        ("real", float("-inf"), "real(-inf)"),
        ("guid", "12345678-1234-1234-1234-123456789ABC", "guid(12345678-1234-1234-1234-123456789abc)"),
        ("decimal", Decimal("1.25"), "decimal(1.25)"),
        ("dynamic", [], "dynamic([])"),
        ("dynamic", ("a", "b"), 'dynamic([@"a", @"b"])'),
        ("string", None, '@""'),
        ("datetime", None, "datetime(null)"),
        ("timespan", None, "timespan(null)"),
        ("dynamic", None, "dynamic(null)"),
        ("long", None, "long(null)"),
        ("bool", None, "bool(null)"),
    ],
)
def test_literal_forms(kusto_type: str, value: object, expected: str) -> None:
    assert render_literal(kusto_type, value, name="p") == expected


@pytest.mark.parametrize(
    ("kusto_type", "value", "pattern"),
    [
        ("datetime", datetime(2026, 11, 19), "timezone-aware"),
        ("datetime", "2026-11-19T00:00:00Z", "declared datetime, got str"),
        ("timespan", timedelta(seconds=-1), "negative timespan"),
        ("timespan", "1h", "declared timespan, got str"),
        ("long", True, "declared long, got bool"),
        ("long", 1.0, "declared long, got float"),
        ("long", 2**63, "out of range"),
        ("int", 2**31, "out of range"),
        ("real", "1.5", "declared real, got str"),
        ("bool", 1, "declared bool, got int"),
        ("string", 5, "declared string, got int"),
        ("dynamic", "a,b", "list of strings"),
        ("dynamic", ["a", 1], "element 1"),
        ("dynamic", {"a": "b"}, "list of strings"),
        ("guid", "not-a-guid", "not a GUID"),
    ],
)
def test_type_mismatches_are_refused(kusto_type: str, value: object, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        render_literal(kusto_type, value, name="p")


def test_every_typed_literal_parses_and_round_trips(con) -> None:  # type: ignore[no-untyped-def]
    when = datetime(2026, 11, 19, 1, 2, 3, 456789, tzinfo=UTC)
    span = timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5)
    text = bind_parameters(
        "declare query_parameters(d:datetime = datetime(null), t:timespan = 1h, b:bool = false, "
        "l:long = 0, i:int = int(0), r:real = 0.0, g:guid = guid(00000000-0000-0000-0000-000000000000));\n"
        "print d = d, t = t, b = b, l = l, i = i, r = r, g = tostring(g)",
        {
            "d": when,
            "t": span,
            "b": True,
            "l": -(2**63),
            "i": -(2**31),
            "r": 1e-300,
            "g": "12345678-1234-1234-1234-123456789abc",
        },
    )
    assert _run(con, text) == [
        (when.replace(tzinfo=None), span, True, -(2**63), -(2**31), 1e-300, "12345678-1234-1234-1234-123456789abc")
    ]
