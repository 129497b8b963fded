"""Parse the ``declare query_parameters(...);`` statement a rule opens with.

Only the leading statement is considered (after comments and whitespace): a
rule's parameters are its interface, and they are declared first. The parser
keeps the source text around the block untouched, so a renderer can replace the
defaults and leave every other byte of the rule as written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.core.errors import DataError, RuleError
from shared.detect.kql.lexer import KqlLexError, Token, tokenize
from shared.detect.kql.types import canonical_type

__all__ = ["Declaration", "DeclareBlock", "parse_declare"]

_TRIVIA = ("space", "comment")
_OPENERS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Declaration:
    """One declared parameter: name, canonical type, type as written, default literal text or None."""

    name: str
    kusto_type: str
    type_text: str
    default: str | None


@dataclass(frozen=True)
class DeclareBlock:
    """The parsed statement, with the text before it (``prefix``) and after its ``;`` (``body``)."""

    declarations: tuple[Declaration, ...]
    prefix: str
    body: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(declaration.name for declaration in self.declarations)

    @property
    def dynamic_defaults(self) -> tuple[str, ...]:
        """Parameters of type ``dynamic`` with a default, which Kusto refuses (query-parameters-statement.md:
        "query parameters of type dynamic cannot have default values")."""
        return tuple(d.name for d in self.declarations if d.kusto_type == "dynamic" and d.default is not None)

    def get(self, name: str) -> Declaration | None:
        for declaration in self.declarations:
            if declaration.name == name:
                return declaration
        return None


def parse_declare(text: str) -> DeclareBlock | None:
    """The leading ``declare query_parameters`` block of ``text``, or None if it has none."""
    try:
        tokens = tokenize(text)
    except KqlLexError as exc:
        raise RuleError(str(exc), location=_where(text, exc.offset)) from None
    cursor = _Cursor(text, [token for token in tokens if token.kind not in _TRIVIA])
    first = cursor.peek()
    if first is None or first.text != "declare":
        return None
    second = cursor.peek(1)
    if second is None or second.text != "query_parameters":
        return None
    cursor.advance(2)
    cursor.expect("(")
    declarations: list[Declaration] = []
    while True:
        declarations.append(_parameter(cursor))
        separator = cursor.expect(",", ")")
        if separator.text == ")":
            break
    end = cursor.pop_statement_end()
    _check_unique(declarations)
    return DeclareBlock(declarations=tuple(declarations), prefix=text[: first.start], body=text[end:])


class _Cursor:
    def __init__(self, text: str, tokens: Sequence[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.index = 0

    def peek(self, ahead: int = 0) -> Token | None:
        position = self.index + ahead
        return self.tokens[position] if position < len(self.tokens) else None

    def advance(self, count: int = 1) -> None:
        self.index += count

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise RuleError("declare query_parameters(...) is not closed", location=self.where(len(self.text)))
        self.index += 1
        return token

    def expect(self, *texts: str) -> Token:
        token = self.take()
        if token.text not in texts:
            wanted = " or ".join(repr(text) for text in texts)
            raise RuleError(
                f"declare query_parameters: expected {wanted}, found {token.text!r}",
                location=self.where(token.start),
            )
        return token

    def pop_statement_end(self) -> int:
        """Consume the ``;`` ending the statement; the offset just past it (or the end of text)."""
        token = self.peek()
        if token is None:
            return len(self.text)
        return self.expect(";").end

    def where(self, offset: int) -> str:
        return _where(self.text, offset)


def _parameter(cursor: _Cursor) -> Declaration:
    name_token = cursor.take()
    if name_token.kind != "ident":
        raise RuleError(
            f"declare query_parameters: expected a parameter name, found {name_token.text!r}",
            location=cursor.where(name_token.start),
        )
    cursor.expect(":")
    type_token = cursor.take()
    try:
        kusto_type = canonical_type(type_token.text)
    except DataError:
        raise RuleError(
            f"parameter {name_token.text}: {type_token.text!r} is not a parameter type",
            location=cursor.where(type_token.start),
        ) from None
    default: str | None = None
    following = cursor.peek()
    if following is not None and following.text == "=":
        cursor.advance()
        default = _default_text(cursor, name_token.text)
    return Declaration(name=name_token.text, kusto_type=kusto_type, type_text=type_token.text, default=default)


def _default_text(cursor: _Cursor, name: str) -> str:
    """The default's source text: every token up to the next top-level ``,`` or ``)``."""
    closers: list[str] = []
    first: Token | None = None
    last: Token | None = None
    while True:
        token = cursor.peek()
        if token is None:
            raise RuleError(f"parameter {name}: default is not terminated", location=cursor.where(len(cursor.text)))
        if not closers and token.text in (",", ")"):
            break
        if token.text in _OPENERS:
            closers.append(_OPENERS[token.text])
        elif closers and token.text == closers[-1]:
            closers.pop()
        first = first or token
        last = token
        cursor.advance()
    if first is None or last is None:
        raise RuleError(f"parameter {name}: '=' has no default value", location=cursor.where(token.start))
    return cursor.text[first.start : last.end]


def _check_unique(declarations: Sequence[Declaration]) -> None:
    seen: set[str] = set()
    for declaration in declarations:
        if declaration.name in seen:
            raise RuleError(f"parameter {declaration.name} is declared twice")
        seen.add(declaration.name)


def _where(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    return f"line {line}"
