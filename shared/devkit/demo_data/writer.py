"""Streaming JSON-lines writers, one file per table, named as Log Analytics exports are."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["TableWriters", "iso"]


def iso(value: datetime) -> str:
    """Log Analytics' export spelling: UTC with a Z and fractional seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


class TableWriters:
    """Opens ``<Table>.jsonl`` on first write and counts rows per table."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counts: dict[str, int] = {}
        self._files: dict[str, IO[str]] = {}

    def write(self, table: str, row: dict[str, object]) -> None:
        handle = self._files.get(table)
        if handle is None:
            handle = (self.folder / f"{table}.jsonl").open("w", encoding="utf-8")
            self._files[table] = handle
            self.counts[table] = 0
        handle.write(json.dumps(row, default=_default, separators=(",", ":")))
        handle.write("\n")
        self.counts[table] += 1

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __enter__(self) -> TableWriters:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
