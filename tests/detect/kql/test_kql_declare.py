"""Parsing the leading ``declare query_parameters`` block of a rule."""

from __future__ import annotations

from pathlib import Path

import pytest

import shared
from shared.core.errors import RuleError
from shared.detect.kql.declare import parse_declare

RULE = Path(shared.__file__).parent / "rules" / "compromised-signing-key" / "rule.kql"


def test_parses_a_real_rule() -> None:
    text = RULE.read_text(encoding="utf-8")
    block = parse_declare(text)
    assert block is not None
    assert block.names == (
        "window_start",
        "window_end",
        "default_window",
        "max_ingestion_delay",
        "compromised_kids",
        "compromised_thumbprints",
    )
    kids = block.get("compromised_kids")
    assert kids is not None
    assert kids.kusto_type == "dynamic"
    assert kids.default == 'dynamic(["1LTMzakihiRla_8z2BEJVXeWMqo", "1LTMzakihiRla/8z2BEJVXeWMqo="])'
    assert block.dynamic_defaults == ("compromised_kids", "compromised_thumbprints")
    assert block.get("window_start").default == "datetime(null)"  # type: ignore[union-attr]
    assert block.get("default_window").default == "1h"  # type: ignore[union-attr]
    assert block.prefix.startswith("// compromised-signing-key")
    assert block.body.lstrip().startswith("let scan_end")
    assert text.endswith(block.body)


def test_defaults_containing_separators_inside_strings_and_brackets() -> None:
    block = parse_declare('declare query_parameters(a:string = "x, y)", b:dynamic = dynamic([",", ")"]));\nT')
    assert block is not None
    assert [(d.name, d.default) for d in block.declarations] == [
        ("a", '"x, y)"'),
        ("b", 'dynamic([",", ")"])'),
    ]
    assert block.body == "\nT"


def test_type_aliases_are_canonicalised_and_kept_as_written() -> None:
    block = parse_declare("declare query_parameters(a:double, b:boolean, c:time, d:int64, e:date); T")
    assert block is not None
    assert [(d.kusto_type, d.type_text, d.default) for d in block.declarations] == [
        ("real", "double", None),
        ("bool", "boolean", None),
        ("timespan", "time", None),
        ("long", "int64", None),
        ("datetime", "date", None),
    ]


@pytest.mark.parametrize(
    "text",
    ["T | take 1", "// declare query_parameters(a:string);\nT", 'print "declare query_parameters(a:string);"', ""],
)
def test_no_leading_block_means_none(text: str) -> None:
    assert parse_declare(text) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("declare query_parameters(a:string, a:long); T", "declared twice"),
        ("declare query_parameters(a:blob); T", "not a parameter type"),
        ("declare query_parameters(a:string = ); T", "no default"),
        ("declare query_parameters(a:string", "not closed"),
        ('declare query_parameters(a:string = "x); T', "not closed"),
        ("declare query_parameters(a:string) T", "expected ';'"),
    ],
)
def test_malformed_blocks_are_rule_errors(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message):
        parse_declare(text)
