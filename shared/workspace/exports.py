"""Find the export files in a folder and the table each one belongs to.

A file is named after its table: ``SigninLogs.jsonl``, or in chunks
``SigninLogs.0001.jsonl``; ``.jsonl``, ``.ndjson``, ``.json``, ``.csv`` and
``.parquet`` are read, the text formats optionally gzip-compressed
(``SigninLogs.csv.gz``). Anything else is skipped and reported, so a stray
README never becomes a table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from shared.errors import DataError

__all__ = ["ExportFile", "ExportFormat", "discover"]

ExportFormat = Literal["jsonl", "json", "csv", "parquet"]

_FORMATS: dict[str, ExportFormat] = {
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "json",
    "csv": "csv",
    "parquet": "parquet",
}
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ExportFile:
    """One export file: where it is, which table it fills, how it is written."""

    path: Path
    table: str
    format: ExportFormat
    compressed: bool


def discover(folder: Path, known_tables: Mapping[str, object]) -> tuple[list[ExportFile], list[Path]]:
    """The export files in ``folder`` (sorted by name) and the files skipped.

    A table name matching a known table case-insensitively takes the known
    spelling, so ``signinlogs.csv`` fills ``SigninLogs``.
    """
    if not folder.is_dir():
        raise DataError("export folder does not exist or is not a directory", location=str(folder))
    canonical = {name.lower(): name for name in known_tables}
    files: list[ExportFile] = []
    skipped: list[Path] = []
    for path in sorted(folder.iterdir(), key=lambda item: item.name):
        if path.name.startswith(".") or not path.is_file():
            continue
        export = _classify(path, canonical)
        if export is None:
            skipped.append(path)
        else:
            files.append(export)
    return files, skipped


def _classify(path: Path, canonical: Mapping[str, str]) -> ExportFile | None:
    parts = path.name.split(".")
    compressed = len(parts) > 2 and parts[-1].lower() == "gz"
    if compressed:
        parts = parts[:-1]
    if len(parts) < 2:
        return None
    export_format = _FORMATS.get(parts[-1].lower())
    if export_format is None or (compressed and export_format == "parquet"):
        return None
    table = parts[0]
    if not _TABLE.match(table):
        return None
    return ExportFile(path=path, table=canonical.get(table.lower(), table), format=export_format, compressed=compressed)
