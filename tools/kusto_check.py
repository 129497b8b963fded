"""Validate KQL with the official Kusto language service (``@kusto/language-service-next``) under Node.

One ``node tools/kusto/check.js`` process analyses every query against a database built from declared
table schemas and reports Error/Warning diagnostics plus the query's result columns::

    from tools.kusto_check import check_queries, load_schemas

    tables = load_schemas(Path("shared/schemas"))
    results = check_queries(tables, {"my-rule": Path("rule.kql").read_text()})
    results["my-rule"].diagnostics  # () when clean
    results["my-rule"].columns      # (("FirstSeen", "datetime"), ...)

Needs Node and the npm package installed at the repo root (``make node-deps``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "LOG_ANALYTICS_STANDARD_COLUMNS",
    "REPO_ROOT",
    "Diagnostic",
    "KustoCheckResult",
    "check_queries",
    "load_schemas",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECK_JS = REPO_ROOT / "tools" / "kusto" / "check.js"
PACKAGE_DIR = REPO_ROOT / "node_modules" / "@kusto" / "language-service-next"
TIMEOUT_SECONDS = 300.0

#: Columns every Log Analytics table has in a real workspace, even when a reference schema omits them.
LOG_ANALYTICS_STANDARD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("TenantId", "string"),
    ("Type", "string"),
    ("_ResourceId", "string"),
)

_INSTALL_HINT = "run `make node-deps`"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """An Error or Warning from the language service. ``start``/``length`` are code-point offsets."""

    severity: str
    code: str
    message: str
    line: int
    column: int
    start: int
    length: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.severity} {self.code}: {self.message}"


@dataclass(frozen=True, slots=True)
class KustoCheckResult:
    """Diagnostics for one query and the (name, type) columns of its tabular result, in order."""

    diagnostics: tuple[Diagnostic, ...]
    columns: tuple[tuple[str, str], ...]


def load_schemas(folder: Path) -> dict[str, list[tuple[str, str]]]:
    """Read ``*.json`` schema files (``{"table": name, "columns": [{"name", "type"}]}``) from ``folder``.

    Adds the Log Analytics standard columns (``TenantId``, ``Type``, ``_ResourceId``) to each table that
    lacks them. Raises ``ValueError`` on a malformed file or a table declared twice.
    """
    tables: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            table = doc["table"]
            columns = [(col["name"], col["type"]) for col in doc["columns"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a table schema ({exc})") from exc
        if not isinstance(table, str) or not all(
            isinstance(name, str) and isinstance(type_, str) for name, type_ in columns
        ):
            raise ValueError(f"{path}: table and column names and types must be strings")
        if table in tables:
            raise ValueError(f"{path}: table {table} is declared twice")
        present = {name for name, _ in columns}
        columns.extend(col for col in LOG_ANALYTICS_STANDARD_COLUMNS if col[0] not in present)
        tables[table] = columns
    return tables


def check_queries(
    tables: Mapping[str, Sequence[tuple[str, str]]],
    queries: Mapping[str, str],
    *,
    database: str = "workspace",
) -> dict[str, KustoCheckResult]:
    """Analyse each query (name -> KQL text) against ``tables`` (name -> [(column, type)]).

    Runs a single Node process for all queries. Raises ``RuntimeError`` when Node or the npm package is
    missing, or when the checker fails.
    """
    if not queries:
        return {}
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(f"node is not on PATH; install Node 20+ and {_INSTALL_HINT}")
    if not (PACKAGE_DIR / "package.json").is_file():
        raise RuntimeError(f"@kusto/language-service-next is not installed in {REPO_ROOT}; {_INSTALL_HINT}")
    request = {
        "database": database,
        "tables": {name: [[col, type_] for col, type_ in cols] for name, cols in tables.items()},
        "queries": [{"name": name, "text": text} for name, text in queries.items()],
    }
    try:
        proc = subprocess.run(  # noqa: S603 - fixed argv, no shell; node resolved from PATH above
            [node, str(CHECK_JS)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            encoding="utf-8",
            cwd=REPO_ROOT,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"kusto checker did not run: {exc}") from exc
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()
        message = detail[-1] if detail else f"exit status {proc.returncode}"
        if proc.returncode == 3:
            message = f"{message}; {_INSTALL_HINT}"
        raise RuntimeError(f"kusto checker failed: {message}")
    try:
        payload: Any = json.loads(proc.stdout)
        results = {item["name"]: _result(item) for item in payload["results"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise RuntimeError(f"kusto checker wrote unexpected output: {exc}") from exc
    missing = set(queries) - set(results)
    if missing:
        raise RuntimeError(f"kusto checker returned no result for: {', '.join(sorted(missing))}")
    return results


def _result(item: Mapping[str, Any]) -> KustoCheckResult:
    diagnostics = tuple(
        Diagnostic(
            severity=str(d["severity"]),
            code=str(d["code"]),
            message=str(d["message"]),
            line=int(d["line"]),
            column=int(d["column"]),
            start=int(d["start"]),
            length=int(d["length"]),
        )
        for d in item["diagnostics"]
    )
    columns = tuple((str(name), str(type_)) for name, type_ in item["columns"])
    return KustoCheckResult(diagnostics=diagnostics, columns=columns)
