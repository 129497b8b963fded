"""KQL -> SQL translations, remembered per rule text, parameter types and table schema.

duckdb-kql parses KQL with a pure-Python ANTLR parser, which costs more than
running most rules. But a rule's *text* does not change between scans: only its
parameter values do (the window moves every five minutes). So a rule is
translated in its ``declare query_parameters`` form, where the values are not
part of the SQL but bound to its placeholders (``duckdb_kql.to_sql``:
"They are bound as values, never spliced into the SQL"), and the SQL is kept:

- in memory, for the life of the process (the Functions instance, or one hunt);
- on disk, as JSON under a cache folder (``--workspace-dir`` for the CLI), so a
  new process pays the parse once per rule text, not once per run.

Each later run binds its own values with duckdb-kql's own ``params.bind`` (the
function ``to_sql`` calls), so a value is coerced and refused exactly as on the
first run. The key includes the schema the translation was made against (a
``join``'s output columns depend on it) and a version stamp of duckdb-kql.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection, DuckDBPyRelation

__all__ = ["Translation", "TranslationCache", "complete_values"]

_MEMORY_ENTRIES = 256


@dataclass(frozen=True)
class Translation:
    """The SQL for one text and schema, and what binding values to it needs."""

    sql: str
    declarations: tuple[tuple[str, str, str, Any], ...]  # (name, type, slot, default value)
    slots: frozenset[str]
    fixed: Mapping[str, Any]  # values the text itself pins (a `set query_now`), by slot

    def bind(self, values: Mapping[str, object]) -> dict[str, Any]:
        """Placeholder values for ``values``, coerced (and refused) by duckdb-kql as ``to_sql`` would."""
        from duckdb_kql.errors import KqlSchemaError
        from duckdb_kql.params import ParameterDeclaration, bind

        declared = [ParameterDeclaration(name=name, type=kind, slot=slot, default=default)
                    for name, kind, slot, default in self.declarations]
        bound, unbound = bind(declared, dict(values))
        if unbound:
            raise KqlSchemaError(", ".join(unbound), hint="declared query parameter with no value and no default")
        return {**{slot: value for slot, value in bound.items() if slot in self.slots}, **self.fixed}


class TranslationCache:
    """Translations by key, in memory (least recently used beyond 256) and, with ``folder``, on disk."""

    def __init__(self, folder: Path | None = None) -> None:
        self._folder = folder
        self._memory: OrderedDict[str, Translation] = OrderedDict()
        self._lock = threading.Lock()
        self.translated = 0
        """How many texts this cache has had to translate (a hit in memory or on disk does not count)."""

    def relation(self, cursor: DuckDBPyConnection, text: str, values: Mapping[str, object]) -> DuckDBPyRelation:
        """``text`` run on ``cursor`` with ``values`` bound: what ``duckdb_kql.kql(cursor, text, values)`` does."""
        cursor.execute("SET TimeZone='UTC'")
        translation = self.translation(cursor, text, values)
        bound = translation.bind(values)
        return cursor.sql(translation.sql, params=bound) if bound else cursor.sql(translation.sql)

    def translation(self, cursor: DuckDBPyConnection, text: str, values: Mapping[str, object]) -> Translation:
        import duckdb_kql
        from duckdb_kql.engine import schema as schema_of

        schema = schema_of(cursor)
        key = _key(text, values, schema)
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                return found
        found = self._read(key)
        if found is None:
            result = duckdb_kql.to_sql(text, schema=schema, parameters=dict(values), allow_write=False)
            declared = tuple((d.name, d.type, d.slot, d.default) for d in result.declarations)
            from_values = {d[2] for d in declared}
            found = Translation(sql=str(result), declarations=declared, slots=frozenset(result.slots),
                                fixed={slot: value for slot, value in result.parameters.items()
                                       if slot not in from_values})
            self.translated += 1
            self._write(key, found)
        with self._lock:
            self._memory[key] = found
            while len(self._memory) > _MEMORY_ENTRIES:
                self._memory.popitem(last=False)
        return found

    def _path(self, key: str) -> Path | None:
        return None if self._folder is None else self._folder / f"{key}.json"

    def _read(self, key: str) -> Translation | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Translation(sql=str(data["sql"]),
                               declarations=tuple((str(n), str(t), str(s), d) for n, t, s, d in data["declarations"]),
                               slots=frozenset(str(slot) for slot in data["slots"]), fixed={})
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a torn or foreign file is translated again, and rewritten

    def _write(self, key: str, translation: Translation) -> None:
        path = self._path(key)
        if path is None or translation.fixed:  # a pinned clock is not worth the trouble of serialising
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            # Defaults are left out: every value is supplied (complete_values), so bind never reads them
            declarations = [[name, kind, slot, None] for name, kind, slot, _default in translation.declarations]
            partial.write_text(json.dumps({"sql": translation.sql, "declarations": declarations,
                                           "slots": sorted(translation.slots)}), encoding="utf-8")
            partial.replace(path)
        except (OSError, TypeError, ValueError):
            pass  # the disk copy is an optimisation; the translation in memory stands


_NO_DEFAULT = object()


def complete_values(text: str, values: Mapping[str, object]) -> dict[str, object] | None:
    """``values`` with every other declared parameter's default, read from the text; None when a default is
    not one of the plain literals below (then the caller binds the text as ``let`` statements instead).

    duckdb-kql takes a ``datetime(null)`` default for no default at all; handing it every value, defaults
    included, keeps its binding to what our own renderer (``shared.detect.kql.render``) does.
    """
    from shared.detect.kql.declare import parse_declare
    from shared.detect.kql.types import normalize_value

    block = parse_declare(text)
    if block is None:
        return None
    complete: dict[str, object] = {}
    for declaration in block.declarations:
        if declaration.name in values:
            # The value our renderer would write (shared.detect.kql.literals): normalised to the declared type,
            # and a null string is the empty string (Kusto has no null string)
            value = normalize_value(declaration.kusto_type, values[declaration.name], name=declaration.name)
            if value is None and declaration.kusto_type == "string":
                value = ""
            complete[declaration.name] = list(value) if isinstance(value, tuple) else value
            continue
        default = _NO_DEFAULT if declaration.default is None else _literal(declaration.kusto_type,
                                                                          declaration.default.strip())
        if default is _NO_DEFAULT:
            return None
        complete[declaration.name] = default
    return complete


def _literal(kusto_type: str, text: str) -> object:
    """A default's value, for the literal forms rules write; :data:`_NO_DEFAULT` for any other."""
    from shared.core.timeparse import parse_duration, parse_instant

    inner = text[text.find("(") + 1:-1].strip() if text.endswith(")") and "(" in text else None
    try:
        if inner is not None and inner.lower() == "null":
            return None
        if kusto_type == "datetime" and inner is not None and text.lower().startswith("datetime("):
            return parse_instant(inner)
        if kusto_type == "timespan" and inner is None:
            return parse_duration(text)
        if kusto_type == "dynamic" and inner is not None and text.lower().startswith("dynamic(") \
                and inner.startswith("["):
            items = json.loads(inner)  # a list of JSON scalars reads the same in KQL; anything else is refused
            if isinstance(items, list) and all(isinstance(item, str | int | float | bool) for item in items):
                return items
        if kusto_type == "string" and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" \
                and "\\" not in text and text[0] not in text[1:-1]:
            return text[1:-1]
        if kusto_type in ("int", "long") and inner is None:
            return int(text)
        if kusto_type == "bool" and text.lower() in ("true", "false"):
            return text.lower() == "true"
    except ValueError:
        return _NO_DEFAULT
    return _NO_DEFAULT


def _key(text: str, values: Mapping[str, object], schema: Mapping[str, Any]) -> str:
    from importlib.metadata import version

    types = sorted((name, type(value).__name__) for name, value in values.items())
    material = json.dumps([version("duckdb-kql"), text, types, schema], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()
