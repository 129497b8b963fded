"""Values fit Table Storage's limits: safe keys, bounded JSON, sortable UTC times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.core.errors import DataError
from shared.ledger.codec import (
    MAX_JSON_CHARS,
    check_key,
    clip,
    dump_json,
    evidence_json,
    format_time,
    load_json,
    parse_time,
)


@pytest.mark.parametrize("bad", ["", "a/b", "a\\b", "a#b", "a?b", "a\x00b", "tab\there", "x" * 1025])
def test_keys_table_storage_refuses_are_refused_here_first(bad: str) -> None:
    with pytest.raises(DataError, match="cannot be a table key"):
        check_key(bad, "rule id")


def test_ordinary_keys_pass() -> None:
    assert check_key("compromised-signing-key", "rule id") == "compromised-signing-key"


def test_times_are_fixed_width_utc_and_round_trip() -> None:
    local = datetime(2026, 3, 2, 14, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    text = format_time(local)
    assert text == "2026-03-02T12:00:00.000005Z"
    assert parse_time(text, "t") == local
    assert format_time(datetime(2026, 3, 2, tzinfo=UTC)) < format_time(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))
    with pytest.raises(DataError, match="naive"):
        format_time(datetime(2026, 3, 2))
    with pytest.raises(DataError, match="not a time"):
        parse_time("yesterday", "FirstSeen")


def test_json_is_ascii_and_bounded() -> None:
    assert dump_json({"upn": "jörg@x.com"}, "x") == '{"upn":"j\\u00f6rg@x.com"}'
    with pytest.raises(DataError, match="at most"):
        dump_json(["x" * MAX_JSON_CHARS], "finding references")
    assert load_json("", "x") is None
    with pytest.raises(DataError, match="not valid JSON"):
        load_json("{", "Evidence")


def test_oversized_evidence_is_kept_as_a_marked_preview() -> None:
    text = evidence_json({"request_uris": ["https://graph.microsoft.com/" + "a" * 100] * 1000})
    assert len(text) <= MAX_JSON_CHARS
    stored = json.loads(text)
    assert stored["truncated"] is True and stored["original_chars"] > MAX_JSON_CHARS


def test_clip() -> None:
    assert clip(None) == ""
    assert clip("abc", 2) == "a…"
