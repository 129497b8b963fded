"""The faster dynamic conversions give what the earlier, slower formulations gave, on every kind of value.

Text (a CSV or Parquet string in a ``dynamic`` column) was ``json_valid`` and then ``CAST ... AS JSON``, two
parses; it is now one ``TRY_CAST``. A JSON value (the typed read) was checked with ``json_type``, a parse of the
whole value; an object or list now goes through on its first character. The earlier expressions are kept here
as the reference.
"""

from __future__ import annotations

import duckdb
import pytest

from shared.detect.logsources.duckdb import casts

_TEXT_BEFORE = ("(CASE WHEN NULLIF(v, '') IS NULL THEN NULL WHEN json_valid(NULLIF(v, '')) THEN CAST(NULLIF(v, '') "
                "AS JSON) ELSE CAST(to_json(NULLIF(v, '')) AS JSON) END)")
_JSON_BEFORE = ("(CASE WHEN json_type(v) = 'VARCHAR' AND json_valid((v ->> '$')) AND regexp_matches((v ->> '$'), "
                "'^\\s*[\\[{]') THEN CAST((v ->> '$') AS JSON) ELSE v END)")
_TEXTS = ['{"a":1}', ' {"a":1} ', "\t[]", "[1,2]", "[1,", "not json", "12", "1.5", "true", "null", "NaN", '"s"',
          '"{\\"a\\":1}"', '{"a":1} x', "{}", "{'a':1}", "1e400", '{"a":1,}', "", None]


@pytest.mark.parametrize("text", _TEXTS)
def test_text_becomes_the_same_dynamic_value(text: str | None) -> None:
    con = duckdb.connect()
    new = casts.convert("v", "VARCHAR", "dynamic", strict=True)
    row = con.execute(f"SELECT {_TEXT_BEFORE}, {new} FROM (SELECT CAST(? AS VARCHAR) AS v)", [text]).fetchone()
    assert row is not None and row[0] == row[1]


@pytest.mark.parametrize("value", ['{"a":1}', "[1,2]", "[]", '"text"', '"{\\"a\\": [1]}"', '" [1]"', '"[1,"',
                                   "12", "true", "null", '"{\\"a\\":1} x"', None])
def test_a_json_value_becomes_the_same_dynamic_value(value: str | None) -> None:
    con = duckdb.connect()
    new = casts.convert("v", "JSON", "dynamic", strict=True)
    row = con.execute(f"SELECT CAST({_JSON_BEFORE} AS VARCHAR), CAST({new} AS VARCHAR) "
                      "FROM (SELECT CAST(CAST(? AS VARCHAR) AS JSON) AS v)", [value]).fetchone()
    assert row is not None and row[0] == row[1]
    if value == '"{\\"a\\": [1]}"':
        assert row[1] == '{"a": [1]}'  # JSON text in a string became the object itself
