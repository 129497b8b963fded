"""OData system query options as Graph v1.0 applies them: ``$select``, ``$top``, ``$filter``, ``$skiptoken``.

Graph v1.0 requires the ``$`` prefix (it is optional on beta only) and ignores
parameters without it. Paging follows Graph: a page holds at most ``$top``
items (a route's default when absent), and a further page is announced by an
absolute ``@odata.nextLink`` that repeats the query with an opaque
``$skiptoken``; following it verbatim is how SDK page iterators work.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, quote

__all__ = [
    "KNOWN_OPTIONS",
    "QueryError",
    "QueryOptions",
    "next_link",
    "page",
    "parse_query",
    "select_properties",
]

T = TypeVar("T")
KNOWN_OPTIONS = frozenset({"$select", "$top", "$filter", "$skiptoken", "$expand", "$orderby", "$count", "$search",
                           "$skip", "$format", "$levels", "$apply", "$compute", "$deltatoken", "$id", "$schemaversion"})
_SKIPTOKEN_PREFIX = "sim1:"
_QUERY_SAFE = ",'()*:@/$"
_PATH_SAFE = "/@(),':$"


class QueryError(Exception):
    """A query Graph refuses with 400; ``code`` and ``message`` go in the body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class QueryOptions:
    pairs: tuple[tuple[str, str], ...]
    """Every ``$`` option as sent (names lower-cased), in order; nextLinks repeat them."""

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.pairs if key == name), None)

    def names(self) -> frozenset[str]:
        return frozenset(key for key, _ in self.pairs)

    @property
    def select(self) -> tuple[str, ...] | None:
        raw = self.get("$select")
        if raw is None:
            return None
        fields = tuple(part.strip() for part in raw.split(","))
        if not raw.strip() or any(not part for part in fields):
            raise QueryError("BadRequest", f"Invalid $select clause: '{raw}'.")
        return fields

    @property
    def filter(self) -> str | None:
        raw = self.get("$filter")
        if raw is not None and not raw.strip():
            raise QueryError("BadRequest", "Invalid filter clause: the filter expression is empty.")
        return raw

    def top(self, *, maximum: int) -> int | None:
        raw = self.get("$top")
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= maximum:
            raise QueryError("Request_BadRequest",
                             f"Invalid page size specified: '{raw}'. Must be between 1 and {maximum} inclusive.")
        return value

    @property
    def skiptoken(self) -> str | None:
        return self.get("$skiptoken")


def parse_query(query: str, *, supported: Iterable[str]) -> QueryOptions:
    """The ``$`` options of a query string; unsupported or repeated ones are refused."""
    allowed = frozenset(supported)
    pairs: list[tuple[str, str]] = []
    for raw_name, value in parse_qsl(query, keep_blank_values=True):
        name = raw_name.strip().lower()
        if not name.startswith("$"):
            continue
        if any(name == seen for seen, _ in pairs):
            raise QueryError("BadRequest", f"Query option '{raw_name}' was specified more than once, but it must "
                                           f"be specified at most once.")
        if name not in allowed:
            known = "" if name in KNOWN_OPTIONS else "unknown "
            raise QueryError("BadRequest", f"The simulator does not support the {known}query option '{raw_name}' "
                                           f"on this request.")
        pairs.append((name, value))
    return QueryOptions(tuple(pairs))


def select_properties(entity: Mapping[str, object], select: Sequence[str] | None, *, default: Sequence[str],
                      known: Iterable[str], type_name: str) -> dict[str, object]:
    """The properties Graph returns: the selected ones, or the type's default set; ``@odata.type`` always."""
    known_names = {name.lower(): name for name in known}
    chosen: list[str] = []
    for requested in select or default:
        if requested == "*":
            chosen.extend(name for name in known_names.values() if name not in chosen)
            continue
        name = known_names.get(requested.lower())
        if name is None:
            raise QueryError("BadRequest", f"Could not find a property named '{requested}' on type '{type_name}'.")
        if name not in chosen:
            chosen.append(name)
    result: dict[str, object] = {}
    if "@odata.type" in entity:
        result["@odata.type"] = entity["@odata.type"]
    for name in chosen:
        if name in entity:
            result[name] = entity[name]
    return result


def page(items: Sequence[T], options: QueryOptions, *, default_top: int, max_top: int) -> tuple[list[T], str | None]:
    """One page of ``items`` and the skiptoken of the next page, if any."""
    size = options.top(maximum=max_top) or default_top
    offset = _decode_skiptoken(options.skiptoken) if options.skiptoken is not None else 0
    chunk = list(items[offset : offset + size])
    following = offset + size
    return chunk, (_encode_skiptoken(following) if following < len(items) else None)


def next_link(service_root: str, path: str, options: QueryOptions, skiptoken: str) -> str:
    """``service_root + path`` with the same options and the new ``$skiptoken`` last, as Graph spells links."""
    pairs = [(name, value) for name, value in options.pairs if name != "$skiptoken"]
    pairs.append(("$skiptoken", skiptoken))
    query = "&".join(f"{name}={quote(value, safe=_QUERY_SAFE)}" for name, value in pairs)
    return f"{service_root}{quote(path, safe=_PATH_SAFE)}?{query}"


def _encode_skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_SKIPTOKEN_PREFIX}{offset}".encode()).decode("ascii").rstrip("=")


def _decode_skiptoken(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
        if text.startswith(_SKIPTOKEN_PREFIX):
            offset = int(text[len(_SKIPTOKEN_PREFIX) :])
            if offset >= 0:
                return offset
    except (ValueError, UnicodeDecodeError, binascii.Error):
        pass
    raise QueryError("Request_BadRequest", "Invalid paging token specified.")
