"""A small OData ``$filter`` parser and evaluator for the clauses Graph supports on the simulated collections.

Grammar (a subset of OData 4.01 URL conventions)::

    expr    := or
    or      := and ('or' and)*
    and     := unary ('and' unary)*
    unary   := 'not' unary | primary
    primary := '(' expr ')' | func | lambda | compare
    compare := PROP ('eq'|'ne'|'gt'|'ge'|'lt'|'le') literal | PROP 'in' '(' literal (',' literal)* ')'
    func    := ('startswith'|'endswith') '(' PROP ',' literal ')'
    lambda  := PROP '/any(' VAR ':' VAR 'eq' literal ')'
    literal := 'string' | true | false | null | number | guid | datetime | namespace.enumType'member'

Each collection states which property takes which operators (``FilterRules``);
anything else is refused the way Graph refuses it (``Request_UnsupportedQuery``),
so a caller that relies on a filter Graph would reject fails here too. String
comparisons ignore case, as the directory's do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

__all__ = ["FilterError", "FilterRules", "Predicate", "parse_filter"]

Predicate = Callable[[Mapping[str, object]], bool]

_OPERATOR_NAMES = {"eq": "EqualsMatch", "ne": "NotEqualsMatch", "gt": "GreaterThan", "ge": "GreaterThanOrEqual",
                   "lt": "LessThan", "le": "LessThanOrEqual", "in": "In", "startswith": "StartsWith",
                   "endswith": "EndsWith", "any": "Any"}
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<enum>[A-Za-z_][\w.]*'(?:[^']|'')*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<guid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}(?![\w-]))
  | (?P<number>-?\d+(?:\.\d+)?(?![\w-]))
  | (?P<name>[A-Za-z_][\w]*(?:/[A-Za-z_][\w]*)*)
  | (?P<punct>[(),:])
""", re.VERBOSE)


class FilterError(Exception):
    """A filter Graph would refuse; ``code`` and ``message`` are what the 400 body carries."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FilterRules:
    """Which operators each property accepts, and the resource name Graph's messages use."""

    resource: str
    operators: Mapping[str, frozenset[str]]


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def parse_filter(text: str, rules: FilterRules) -> Predicate:
    """A predicate over Graph-shaped objects, or :class:`FilterError`."""
    parser = _Parser(text, rules)
    predicate = parser.parse_or()
    if parser.peek() is not None:
        parser.fail()
    return predicate


class _Parser:
    def __init__(self, text: str, rules: FilterRules) -> None:
        self.text = text
        self.rules = rules
        self.tokens = self._tokenize(text)
        self.index = 0

    def _tokenize(self, text: str) -> list[_Token]:
        tokens: list[_Token] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.lastgroup is None:
                raise FilterError("BadRequest", f"Invalid filter clause: Syntax error at position {position} in "
                                                f"'{text}'.")
            if match.lastgroup != "ws":
                tokens.append(_Token(match.lastgroup, match.group(), position))
            position = match.end()
        return tokens

    # --- token helpers ---------------------------------------------------------------------------
    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            self.fail()
        self.index += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text.lower() != text:
            self.fail(token)

    def fail(self, token: _Token | None = None) -> NoReturn:
        position = token.position if token is not None else len(self.text)
        raise FilterError("BadRequest", f"Invalid filter clause: Syntax error at position {position} in '{self.text}'.")

    # --- grammar -----------------------------------------------------------------------------------
    def parse_or(self) -> Predicate:
        left = self.parse_and()
        while self.keyword("or"):
            right = self.parse_and()
            left = _either(left, right)
        return left

    def parse_and(self) -> Predicate:
        left = self.parse_unary()
        while self.keyword("and"):
            right = self.parse_unary()
            left = _both(left, right)
        return left

    def parse_unary(self) -> Predicate:
        if self.keyword("not"):
            inner = self.parse_unary()
            return lambda item: not inner(item)
        return self.parse_primary()

    def parse_primary(self) -> Predicate:
        token = self.take()
        if token.text == "(":
            inner = self.parse_or()
            self.expect(")")
            return inner
        if token.kind != "name":
            self.fail(token)
        lowered = token.text.lower()
        following = self.peek()
        if lowered in {"startswith", "endswith"} and following is not None and following.text == "(":
            return self.parse_function(lowered)
        if token.text.lower().endswith("/any"):
            return self.parse_lambda(token.text[: -len("/any")])
        return self.parse_compare(token.text)

    def parse_function(self, function: str) -> Predicate:
        self.expect("(")
        prop = self.take()
        if prop.kind != "name":
            self.fail(prop)
        self.expect(",")
        value = self.literal()
        self.expect(")")
        name = self.check(prop.text, function)
        if not isinstance(value, str):
            raise FilterError("BadRequest", f"Invalid filter clause: {function} expects a string value.")
        needle = value.lower()
        if function == "startswith":
            return lambda item: _text(item.get(name)).startswith(needle)
        return lambda item: _text(item.get(name)).endswith(needle)

    def parse_lambda(self, prop: str) -> Predicate:
        name = self.check(prop, "any")
        self.expect("(")
        variable = self.take()
        self.expect(":")
        again = self.take()
        if variable.kind != "name" or again.text != variable.text or not self.keyword("eq"):
            self.fail(again)
        value = self.literal()
        self.expect(")")

        def matches(item: Mapping[str, object]) -> bool:
            values = item.get(name)
            return isinstance(values, list) and any(_equal(candidate, value) for candidate in values)

        return matches

    def parse_compare(self, prop: str) -> Predicate:
        operator = self.take()
        op = operator.text.lower()
        if operator.kind != "name" or op not in {"eq", "ne", "gt", "ge", "lt", "le", "in"}:
            self.fail(operator)
        name = self.check(prop, op)
        if op == "in":
            self.expect("(")
            values = [self.literal()]
            while (separator := self.peek()) is not None and separator.text == ",":
                self.take()
                values.append(self.literal())
            self.expect(")")
            return lambda item: any(_equal(item.get(name), value) for value in values)
        value = self.literal()
        if op == "eq":
            return lambda item: _equal(item.get(name), value)
        if op == "ne":
            return lambda item: not _equal(item.get(name), value)
        return _ordered(name, op, value)

    def literal(self) -> object:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.kind == "enum":
            return token.text[token.text.index("'") + 1 : -1].replace("''", "'")
        if token.kind == "guid":
            return token.text
        if token.kind == "datetime":
            return _parse_datetime(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "name" and token.text.lower() in {"true", "false", "null"}:
            return {"true": True, "false": False, "null": None}[token.text.lower()]
        return self.fail(token)

    def check(self, prop: str, operator: str) -> str:
        """The property's name as the rules spell it, if it takes ``operator``."""
        name = next((known for known in self.rules.operators if known.lower() == prop.lower()), None)
        if name is None:
            raise FilterError("Request_UnsupportedQuery", f"Unsupported or invalid query filter clause specified "
                                                          f"for property '{prop}' of resource '{self.rules.resource}'.")
        if operator not in self.rules.operators[name]:
            raise FilterError("Request_UnsupportedQuery",
                              f"Unsupported property filter clause operator '{_OPERATOR_NAMES[operator]}'.")
        return name


def _text(value: object) -> str:
    return value.lower() if isinstance(value, str) else ""


def _equal(left: object, right: object) -> bool:
    if isinstance(right, datetime):
        return _comparable(left, right) == right
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    return left == right


def _parse_datetime(text: str) -> datetime | None:
    # Graph writes seven fractional digits; Python reads at most six.
    match = re.fullmatch(r"(.*?)(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", text)
    if match is None:
        return None
    fraction = f".{(match.group(2) or '0')[:6]:0<6}"
    zone = "+00:00" if match.group(3) == "Z" else match.group(3)
    try:
        return datetime.fromisoformat(match.group(1) + fraction + zone)
    except ValueError:
        return None


def _comparable(current: object, value: object) -> object:
    """Graph-shaped values are strings; compare them as datetimes when the literal is one."""
    if isinstance(value, datetime) and isinstance(current, str):
        return _parse_datetime(current)
    return current


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda item: left(item) and right(item)


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda item: left(item) or right(item)


def _ordered(name: str, op: str, value: object) -> Predicate:
    def compare(item: Mapping[str, object]) -> bool:
        current: Any = _comparable(item.get(name), value)
        if current is None or value is None:
            return False
        try:
            if op == "gt":
                return bool(current > value)
            if op == "ge":
                return bool(current >= value)
            if op == "lt":
                return bool(current < value)
            return bool(current <= value)
        except TypeError:
            return False

    return compare
