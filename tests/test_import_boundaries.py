"""The import graph follows the pipeline: a stage uses the stages before it, never the ones after it.

Every import counts, including the lazy ones inside functions (they are part of the graph, only later).
:mod:`test_cold_start` checks *when* modules load; this checks *which* may load which.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every absolute import in *path*: the module named and its line."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {module}"
            for path in sorted((ROOT / folder).rglob("*.py"))
            for module, line in _imports(path) if _within(module, forbidden)]


def test_detection_knows_nothing_of_what_comes_after_it() -> None:
    later = ("shared.intake", "shared.cases", "shared.respond", "shared.jobs", "shared.api", "shared.cli",
             "shared.devkit")
    assert _violations("shared/detect", later) == []


@pytest.mark.parametrize("stage", ["core", "detect", "intake", "cases", "ledger", "respond", "jobs", "api", "audit"])
def test_only_the_command_line_and_the_tests_import_the_dev_kit(stage: str) -> None:
    """The dev kit is not deployed (see test_deployment_package), so anything deployed that imported it would fail."""
    assert _violations(f"shared/{stage}", ("shared.devkit",)) == []
    assert _violations("functions", ("shared.devkit",)) == []


def test_the_core_depends_on_no_stage() -> None:
    stages = ("shared.detect", "shared.intake", "shared.cases", "shared.ledger", "shared.respond", "shared.jobs",
              "shared.api", "shared.audit", "shared.cli", "shared.devkit")
    assert _violations("shared/core", stages) == []


def test_the_command_line_imports_the_dev_kit_only_lazily() -> None:
    """``shared.cli`` ships in the package; its dev commands import the dev kit only when they run."""
    eager = []
    for path in sorted((ROOT / "shared" / "cli").rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and node.module and _within(node.module, ("shared.devkit",)):
                eager.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert eager == []
