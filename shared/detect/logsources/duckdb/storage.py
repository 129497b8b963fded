"""Where a loaded workspace lives: a bounded memory budget, a spill folder, and an on-disk copy reused across hunts.

Months of exports do not fit in memory, and need not: DuckDB keeps at most
``memory_limit`` in its buffer pool and writes the rest to ``temp_directory``
(https://duckdb.org/docs/guides/performance/how_to_tune_workloads, "Larger-Than-Memory Workloads";
https://duckdb.org/docs/2.0/operations_manual/limits.html: the limit "only applies to the buffer manager",
so the process's RSS can exceed it by what lives outside, such as the Python side). The default limit is
:data:`DEFAULT_MEMORY_SHARE` of the machine's memory (DuckDB's own default, 80% of RAM, leaves too little
for the rest on a shared machine).

With a workspace folder (``--workspace-dir``) the tables are written to a
DuckDB database file there, named after the export folder. Beside it a JSON
manifest records every file's path, size and modification time, the columns
loaded and the load report; a later hunt over an unchanged folder, asking for
no column that was left out, opens that database read-only and loads nothing.
Any change (a file added, removed, rewritten, or a column newly needed)
reloads from scratch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigurationError
from shared.detect.logsources.duckdb.exports import SkippedFile
from shared.detect.logsources.duckdb.loader import LoadReport, TableLoad

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = ["DEFAULT_MEMORY_SHARE", "Storage", "default_memory_limit", "parse_memory_limit", "report_from_json",
           "report_to_json", "saved_load"]

DEFAULT_MEMORY_SHARE = 0.5
"""Share of the machine's physical memory DuckDB may use when no ``--memory-limit`` is given."""
_LIMIT = re.compile(r"^\s*(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[KMGT]i?B)\s*$", re.IGNORECASE)
_FORMAT = 1
"""Bumped whenever what the loader writes changes, so an older saved workspace is reloaded, not trusted."""


def parse_memory_limit(text: str) -> str:
    """``4GB``, ``512MiB``... as DuckDB's ``memory_limit`` takes it; ConfigurationError otherwise."""
    match = _LIMIT.match(text)
    if match is None or float(match.group("number")) <= 0:
        raise ConfigurationError(f"--memory-limit {text!r} is not a size such as 4GB or 512MiB")
    unit = match.group("unit")
    return f"{match.group('number')}{unit[0].upper()}{unit[1:-1].lower()}B"


def default_memory_limit() -> str:
    """:data:`DEFAULT_MEMORY_SHARE` of physical memory, in MiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: DuckDB's own default applies
        return "80%"
    return f"{max(256, int(total * DEFAULT_MEMORY_SHARE) // 2**20)}MiB"


@dataclass(frozen=True)
class Storage:
    """How a workspace is held: the memory limit and, optionally, the folder for the database and spill."""

    memory_limit: str | None = None
    workspace_dir: Path | None = None

    def configure(self, connection: DuckDBPyConnection, spill: Path, *, external_access: bool = True) -> None:
        """Apply the limit, and spill to ``spill`` rather than fail when the limit is reached.

        ``external_access=False``: the connection cannot reach files (a reused read-only workspace), so its
        temp directory was given when it was opened, and DuckDB refuses to change it now.
        """
        limit = self.memory_limit or default_memory_limit()
        connection.execute(f"SET memory_limit = '{limit}'")
        if external_access:
            connection.execute(f"SET temp_directory = '{_quoted(spill)}'")
        connection.execute("SET enable_progress_bar = false")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def workspace_paths(workspace_dir: Path, folder: Path) -> tuple[Path, Path]:
    """The database file and manifest for ``folder`` inside ``workspace_dir``."""
    name = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return workspace_dir / f"exports-{name}.duckdb", workspace_dir / f"exports-{name}.json"


def manifest(folder: Path, columns: Collection[str] | None, timezone: str | None) -> dict[str, Any]:
    """What a load depends on: every file's path, size and mtime, and the options that change the tables."""
    files = []
    for root, _dirs, names in sorted(os.walk(folder)):
        for name in sorted(names):
            path = Path(root) / name
            stat = path.stat()
            files.append([path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns])
    schemas = Path(__file__).resolve().parent.parent / "schemas"
    schema_stamp = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(schemas.glob("*.json")))).hexdigest()
    return {"format": _FORMAT, "folder": str(folder.resolve()), "timezone": timezone, "schemas": schema_stamp,
            "files": files, "columns": None if columns is None else sorted({c.lower() for c in columns})}


def saved_load(meta_path: Path, wanted: dict[str, Any]) -> LoadReport | None:
    """The saved load's report when its manifest matches ``wanted`` (its columns covering those asked for)."""
    try:
        saved = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    have = saved.get("manifest", {})
    same = all(have.get(key) == wanted[key] for key in ("format", "folder", "timezone", "schemas", "files"))
    covered = have.get("columns") is None or (
        wanted["columns"] is not None and set(wanted["columns"]) <= set(have["columns"]))
    if not same or not covered:
        return None
    try:
        return report_from_json(saved["report"])
    except (KeyError, TypeError, ValueError):
        return None


def report_to_json(report: LoadReport) -> dict[str, Any]:
    return {
        "tables": dict(report.tables),
        "unknown_tables": list(report.unknown_tables),
        "unknown_columns": {table: list(names) for table, names in report.unknown_columns.items()},
        "files": [str(path) for path in report.files],
        "skipped": [[str(item.path), item.relative, item.reason] for item in report.skipped],
        "loads": [{"table": load.table, "layouts": list(load.layouts), "files": list(load.files), "rows": load.rows,
                   "rows_without_time": load.rows_without_time,
                   "first": load.first.isoformat() if load.first else None,
                   "last": load.last.isoformat() if load.last else None,
                   "unknown_columns": list(load.unknown_columns), "notes": list(load.notes)}
                  for load in report.loads],
    }


def report_from_json(data: dict[str, Any]) -> LoadReport:
    skipped = tuple(SkippedFile(path=Path(path), relative=relative, reason=reason)
                    for path, relative, reason in data["skipped"])
    return LoadReport(
        tables=MappingProxyType({str(k): int(v) for k, v in data["tables"].items()}),
        unknown_tables=tuple(data["unknown_tables"]),
        unknown_columns=MappingProxyType({k: tuple(v) for k, v in data["unknown_columns"].items()}),
        files=tuple(Path(path) for path in data["files"]),
        skipped_files=tuple(item.path for item in skipped),
        skipped=skipped,
        loads=tuple(TableLoad(
            table=load["table"], layouts=tuple(load["layouts"]), files=tuple(load["files"]), rows=int(load["rows"]),
            rows_without_time=int(load["rows_without_time"]),
            first=datetime.fromisoformat(load["first"]) if load["first"] else None,
            last=datetime.fromisoformat(load["last"]) if load["last"] else None,
            unknown_columns=tuple(load["unknown_columns"]), notes=tuple(load["notes"])) for load in data["loads"]),
    )


def save_load(meta_path: Path, wanted: dict[str, Any], report: LoadReport) -> None:
    """Write the manifest and report beside the database, atomically (a torn write would be a wrong reuse)."""
    partial = meta_path.with_suffix(".json.partial")
    partial.write_text(json.dumps({"manifest": wanted, "report": report_to_json(report)}), encoding="utf-8")
    partial.replace(meta_path)
