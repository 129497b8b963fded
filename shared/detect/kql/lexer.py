"""A KQL tokenizer that knows exactly where strings and comments begin and end.

Rewriting a ``declare query_parameters`` block, or checking a query for a
cross-database reference, is only safe if a ``)`` or ``,`` inside a string
literal is never mistaken for syntax. The rules here follow the lexer grammar
of Microsoft's Kusto-Query-Language repository (``grammar/KqlTokens.g4``): the
four quoted string forms with optional ``h`` prefix, multi-line strings fenced
by three backticks or tildes, ``//`` comments ending at any line break, and the
``datetime(...)``-style literals whose parenthesised text is one token.
Everything else is tokenised coarsely; the parser does not need more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = ["KqlLexError", "Token", "TokenKind", "tokenize"]

TokenKind = Literal["space", "comment", "string", "literal", "ident", "number", "punct"]


class KqlLexError(ValueError):
    """The text cannot be tokenised (an unterminated string, say); ``offset`` is where."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int


# Keywords the Kusto lexer fuses with an immediately following "(...)" into one literal token
# (LparenGooRparen: everything up to the first ")").
_PAREN_LITERAL_WORDS = frozenset(
    {
        "bool",
        "datetime",
        "decimal",
        "double",
        "guid",
        "int",
        "int32",
        "int64",
        "long",
        "real",
        "time",
        "timespan",
        "typeof",
        "uniqueid",
        "uuid",
    }
)
_SPACE = re.compile("[\t \r\n\f\u00a0\u1680\u180e\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+")
_COMMENT = re.compile("//[^\n\r\u2028\u2029]*")
_IDENT = re.compile(r"[$_A-Za-z][_A-Za-z0-9]*")
_NUMBER = re.compile(r"(?:0[xX][0-9A-Fa-f]+|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)[_A-Za-z0-9]*")
_QUOTED = {
    '"': re.compile(r'"(?:\\[^\r\n]|[^\\"\r\n])*"'),
    "'": re.compile(r"'(?:\\[^\r\n]|[^\\'\r\n])*'"),
}
_VERBATIM = {
    '"': re.compile(r'@"(?:""|[^"\r\n])*"'),
    "'": re.compile(r"@'(?:''|[^'\r\n])*'"),
}
_FENCES = ("```", "~~~")


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens covering it exactly; raises KqlLexError where it cannot."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        token = _next_token(text, position)
        tokens.append(token)
        position = token.end
    return tokens


def _next_token(text: str, position: int) -> Token:
    for kind, pattern in (("space", _SPACE), ("comment", _COMMENT)):
        match = pattern.match(text, position)
        if match:
            return Token(kind, match.group(), position, match.end())  # type: ignore[arg-type]
    string = _string_at(text, position)
    if string is not None:
        return string
    match = _IDENT.match(text, position)
    if match:
        return _identifier_or_literal(text, position, match.end())
    match = _NUMBER.match(text, position)
    if match:
        return Token("number", match.group(), position, match.end())
    return Token("punct", text[position], position, position + 1)


def _string_at(text: str, position: int) -> Token | None:
    start = position
    if text[position] in "hH" and position + 1 < len(text) and text[position + 1] in "\"'@`~":
        position += 1  # obfuscated-string prefix
    char = text[position]
    pattern = None
    if char in _QUOTED:
        pattern = _QUOTED[char]
    elif char == "@" and position + 1 < len(text) and text[position + 1] in _VERBATIM:
        pattern = _VERBATIM[text[position + 1]]
    elif text.startswith(_FENCES, position):
        fence = text[position : position + 3]
        close = text.find(fence, position + 3)
        if close < 0:
            raise KqlLexError(f"multi-line string opened with {fence} is never closed", start)
        return Token("string", text[start : close + 3], start, close + 3)
    if pattern is None:
        return None  # not a string (an "h" before a lone "@" is an identifier)
    match = pattern.match(text, position)
    if match is None:
        raise KqlLexError("string literal is not closed on its line", start)
    return Token("string", text[start : match.end()], start, match.end())


def _identifier_or_literal(text: str, start: int, end: int) -> Token:
    word = text[start:end]
    if word in _PAREN_LITERAL_WORDS and end < len(text) and text[end] == "(":
        close = text.find(")", end)
        if close < 0:
            raise KqlLexError(f"{word}( literal is never closed", start)
        return Token("literal", text[start : close + 1], start, close + 1)
    return Token("ident", word, start, end)
