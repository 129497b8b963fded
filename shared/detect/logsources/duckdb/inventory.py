"""What a folder of exports holds, as ``tokenwarden inspect`` shows it: per table, and every file skipped.

The inventory is read from the loader's own report, so it shows exactly what
``hunt`` would load. Its JSON form is a contract (docs/formats.md):
``{"tables": [{table, format, files, rows, rows_without_time, first, last,
unknown_columns}], "skipped": [{path, reason}]}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TextIO

from shared.detect.logsources.duckdb.loader import LoadReport

__all__ = ["inventory_complete", "inventory_json", "render_inventory"]


def inventory_json(report: LoadReport) -> dict[str, Any]:
    """The ``inspect --format json`` document."""
    return {
        "tables": [
            {
                "table": load.table,
                "format": ", ".join(load.layouts),
                "files": list(load.files),
                "rows": load.rows,
                "rows_without_time": load.rows_without_time,
                "first": _iso(load.first),
                "last": _iso(load.last),
                "unknown_columns": list(load.unknown_columns),
            }
            for load in report.loads
        ],
        "skipped": [{"path": item.relative, "reason": item.reason} for item in report.skipped],
    }


def inventory_complete(report: LoadReport) -> bool:
    """True when every file was loaded and every row has a time: nothing a rule could miss in silence."""
    return not report.skipped and report.rows_without_time == 0


def render_inventory(report: LoadReport, stream: TextIO) -> None:
    """The ``inspect`` table: one line per table, its notes, then each skipped file and why."""
    if not report.loads:
        stream.write("no table was filled\n")
    for load in report.loads:
        span = f"{_iso(load.first)} .. {_iso(load.last)}" if load.first and load.last else "no times"
        stream.write(f"{load.table:<34} {load.rows:>9} rows  {span}  from {len(load.files)} file(s) "
                     f"[{', '.join(load.layouts)}]\n")
        if load.rows_without_time:
            stream.write(f"  {load.rows_without_time} rows have no TimeGenerated: no rule can see them\n")
        if load.unknown_columns:
            stream.write(f"  columns the schema does not know: {', '.join(load.unknown_columns)}\n")
        for note in load.notes:
            stream.write(f"  note: {note}\n")
    for item in report.skipped:
        stream.write(f"skipped {item.relative}: {item.reason}\n")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")
