"""The KQL tokenizer: strings and comments are single tokens, so their contents are never syntax."""

from __future__ import annotations

import pytest

from shared.detect.kql.lexer import KqlLexError, tokenize
from shared.detect.kql.scope import out_of_scope_reason


def _significant(text: str) -> list[tuple[str, str]]:
    return [(token.kind, token.text) for token in tokenize(text) if token.kind not in ("space", "comment")]


def test_tokens_cover_the_text_exactly() -> None:
    text = 'T | where A == "x, y)" // trailing ) comment\n| extend b = @"c:\\dir" , d = datetime(2026-01-01)'
    tokens = tokenize(text)
    assert "".join(token.text for token in tokens) == text
    assert all(tokens[i].end == tokens[i + 1].start for i in range(len(tokens) - 1))


@pytest.mark.parametrize(
    "literal",
    [
        '"a \\" b"',
        "'it\\'s'",
        '@"verbatim ""quoted"" \\ back"',
        "@'verbatim ''single'''",
        'h"hidden"',
        "H@'hidden'",
        "```multi\nline \" ' ```",
        "~~~also\nmulti~~~",
    ],
)
def test_every_string_form_is_one_token(literal: str) -> None:
    assert _significant(f"print {literal}") == [("ident", "print"), ("string", literal)]


def test_paren_literals_are_one_token_but_function_calls_are_not() -> None:
    assert _significant("datetime(2026-01-01 00:00)") == [("literal", "datetime(2026-01-01 00:00)")]
    assert _significant("time(1.02:03:04)") == [("literal", "time(1.02:03:04)")]
    assert _significant("datetime_diff(a)")[0] == ("ident", "datetime_diff")
    assert _significant("datetime (x)")[0] == ("ident", "datetime")


def test_comment_ends_at_any_line_break() -> None:
    assert _significant("a // b\u2028c") == [("ident", "a"), ("ident", "c")]


@pytest.mark.parametrize("text", ['print "open', "print 'open\n'", 'print @"open\n"', "print ```never closed"])
def test_unterminated_strings_are_refused_with_their_offset(text: str) -> None:
    with pytest.raises(KqlLexError) as caught:
        tokenize(text)
    assert caught.value.offset == 6


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('database("other").T', "database()"),
        ("cluster('c').database('d').T", "cluster()"),
        ("workspace('w').T", "workspace()"),
        (".show tables", "control commands"),
        ("// comment first\n.set-or-replace T <| print 1", "control commands"),
    ],
)
def test_out_of_scope_references_are_recognised(text: str, reason: str) -> None:
    found = out_of_scope_reason(text)
    assert found is not None
    assert reason in found


@pytest.mark.parametrize(
    "text", ['print "database(x)"', "T // database(x)\n| take 1", "T | extend database = 1", "print x=1"]
)
def test_scope_words_in_strings_comments_or_as_names_are_fine(text: str) -> None:
    assert out_of_scope_reason(text) is None
