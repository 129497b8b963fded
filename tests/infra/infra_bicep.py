"""Helpers for the offline checks of ``infra/``: parse every Bicep file with pycep.

No Azure and no bicep CLI are reachable where these tests run, so the templates are checked as
parsed syntax trees (pycep-parser 0.7.1). pycep represents a reference to a parameter, variable or
resource as a bare string and a literal as a string too; the helpers below resolve the names they
need and leave everything else as pycep produced it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def bicep_files() -> list[Path]:
    """Every Bicep file under infra/, sorted."""
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    """The pycep syntax tree of one Bicep file (cached: each file is parsed once per session)."""
    tree: dict[str, Any] = BicepParser().parse(file_path=path)
    return tree


def infra_file(relative: str) -> dict[str, Any]:
    return parse(INFRA / relative)


def target_scope(tree: dict[str, Any]) -> str:
    scope: str = tree["globals"]["scope"]["value"]
    return scope


def body(declaration: dict[str, Any]) -> dict[str, Any]:
    """The body of a resource or module declaration, looking through a for-loop or a condition."""
    config: dict[str, Any] = declaration["config"]
    if "loop_type" in config or "condition" in config:
        inner: dict[str, Any] = config["config"]
        return inner
    return config


def variable(tree: dict[str, Any], name: str) -> Any:
    return tree["variables"][name]["value"]


def resolve(tree: dict[str, Any], value: Any) -> Any:
    """Follow a bare variable name to its value (repeatedly); any other value is returned as is."""
    seen: set[str] = set()
    while isinstance(value, str) and value in tree.get("variables", {}) and value not in seen:
        seen.add(value)
        value = variable(tree, value)
    return value


def loaded_file(tree_path: Path, value: Any, function: str) -> Path | None:
    """The file a loadTextContent/loadJsonContent call reads, resolved against the Bicep file."""
    if isinstance(value, dict) and value.get("function", {}).get("type") == function:
        return (tree_path.parent / value["function"]["parameters"]["file_path"]).resolve()
    return None


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside a pycep value (names, literals, interpolations)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def modules(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = tree.get("modules", {})
    return found


def module_path(path: Path, declaration: dict[str, Any]) -> Path:
    return (path.parent / declaration["detail"]["path"]).resolve()


def reachable_from(entry: Path) -> set[Path]:
    """The entry file and every local module it uses, transitively."""
    todo, seen = [entry.resolve()], set[Path]()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(module_path(current, m) for m in modules(parse(current)).values())
    return seen
