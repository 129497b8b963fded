"""Export files at benchmark scale, written once into a cache folder: JSON lines, data-export blobs, Parquet.

The rows come from :func:`shared.devkit.demo_data.generate.generate_demo_data` (the same realistic tenant
``make demo`` hunts: its proportions of interactive and non-interactive sign-ins, Graph and mail
use, service traffic, look-alikes and planted attacks, every table the rules read). One week of a
1,000-user tenant is the seed; a scale is reached by repeating that week further back in time, each
copy with its own token, request and correlation ids (so joins keep their real cardinality), the way
months of one tenant's exports look. The planted attacks of the newest copy sit in the hunted day.

Three layouts of the same rows:

- ``jsonl``: one ``<Table>.jsonl`` per table, as a Log Analytics query export;
- ``data-export``: Log Analytics data export to storage, ``am-<table>/WorkspaceResourceId=/…/y=/m=/d=/h=/m=00/
  PT1H.json``, each record carrying ``Type`` and omitting its empty fields (MicrosoftDocs/azure-docs,
  ``articles/azure-monitor/logs/logs-data-export.md``). Hourly ``PT1H.json`` blobs, the format before the
  five-minute ``PT05M.json`` of October 2021, keep a year of blobs to tens of thousands of files
  (the loader reads both the same way);
- ``parquet``: one ``<Table>.parquet`` per table, typed.

Generation is DuckDB SQL over the seed (``COPY … TO``), not Python rows: the seed takes seconds, 20M rows a
few minutes. A finished folder holds ``.complete``; an interrupted one is rebuilt.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["FILE_BENCH_END", "LAYOUTS", "dataset", "jsonl_bytes", "seed_folder"]

FILE_BENCH_END = datetime(2026, 11, 20, tzinfo=UTC)
LAYOUTS = ("jsonl", "data-export", "parquet")
SEED_DAYS = 7
_WORKSPACE_PATH = ("WorkspaceResourceId=/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/bench/"
                   "providers/microsoft.operationalinsights/workspaces/bench")
_FRESH_IDS = ("Id", "CorrelationId", "RequestId", "OperationId", "ClientRequestId", "UniqueTokenIdentifier",
              "SignInActivityId", "TokenId", "OfficeId", "IndicatorId", "SessionId", "OriginalRequestId")
"""Per-event identifiers: each copy of the seed week gets its own, derived the same way in every table."""
_COMPLETE = ".complete"


def seed_folder(cache: Path) -> Path:
    """One week of the demo tenant at ``BENCH_FILE_SEED_USERS`` (default 1,000) users, about 400k rows,
    generated once."""
    from shared.devkit.demo_data.generate import generate_demo_data

    users = int(os.environ.get("BENCH_FILE_SEED_USERS", "1000"))
    folder = cache / f"seed-{users}u-{SEED_DAYS}d"
    if not (folder / _COMPLETE).exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate_demo_data(folder, users=users, days=SEED_DAYS, end=FILE_BENCH_END)
        (folder / _COMPLETE).write_text("ok\n", encoding="utf-8")
    return folder


def _seed_tables(seed: Path) -> dict[str, Path]:
    return {path.stem: path for path in sorted(seed.glob("*.jsonl"))}


def _seed_rows(seed: Path) -> int:
    return sum(sum(1 for _ in path.open("rb")) for path in _seed_tables(seed).values())


def dataset(cache: Path, rows: int, layout: str) -> Path:
    """The folder holding about ``rows`` rows in total in ``layout``, generated on first use."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    users = os.environ.get("BENCH_FILE_SEED_USERS", "1000")
    folder = cache / (f"{layout}-{rows}" if users == "1000" else f"{layout}-{rows}-{users}u")
    if (folder / _COMPLETE).exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    if layout == "jsonl":
        _write_jsonl(cache, rows, folder)
    else:
        source = dataset(cache, rows, "jsonl")
        if layout == "parquet":
            _write_parquet(source, folder)
        else:
            _write_data_export(source, folder)
    (folder / _COMPLETE).write_text("ok\n", encoding="utf-8")
    return folder


def jsonl_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*.jsonl"))


def _connect() -> object:
    import duckdb

    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    return con


def _write_jsonl(cache: Path, rows: int, folder: Path) -> None:
    seed = seed_folder(cache)
    copies = max(1, round(rows / _seed_rows(seed)))
    con = _connect()
    for table, path in _seed_tables(seed).items():
        quoted = str(path).replace("'", "''")
        described = con.execute(  # type: ignore[attr-defined]
            f"DESCRIBE SELECT * FROM read_json('{quoted}', format = 'newline_delimited', sample_size = -1)"
        ).fetchall()
        select = [_shifted(str(name), str(kind)) for name, kind, *_ in described]
        target = str(folder / f"{table}.jsonl").replace("'", "''")
        con.execute(  # type: ignore[attr-defined]
            f"COPY (SELECT {', '.join(select)} FROM read_json('{quoted}', format = 'newline_delimited', "
            f"sample_size = -1) AS seed, range({copies}) AS copies(c) ORDER BY c DESC, \"TimeGenerated\") "
            f"TO '{target}' (FORMAT json)"
        )
    shutil.copy2(seed / "apps.json", folder / "apps.json")
    shutil.copytree(seed / "jwks", folder / "jwks")
    shutil.copy2(seed / "planted.json", folder / "planted.json")


def _shifted(name: str, kind: str) -> str:
    """The seed column in copy ``c``: times ``c`` weeks earlier, per-event ids fresh for the copy."""
    quoted = '"' + name.replace('"', '""') + '"'
    if kind.startswith("TIMESTAMP"):
        return (f"strftime(CAST({quoted} AS TIMESTAMP) - to_days(CAST(c * {SEED_DAYS} AS INTEGER)), "
                f"'%Y-%m-%dT%H:%M:%S.%gZ') AS {quoted}")
    if name in _FRESH_IDS and kind in ("VARCHAR", "UUID"):
        text = f"CAST({quoted} AS VARCHAR)"
        digest = f"md5({text} || ':' || c)"
        fresh = (f"CASE WHEN length({text}) = 36 THEN substr({digest}, 1, 8) || '-' || substr({digest}, 9, 4) || "
                 f"'-' || substr({digest}, 13, 4) || '-' || substr({digest}, 17, 4) || '-' || substr({digest}, 21, 12)"
                 f" ELSE substr({digest}, 1, length({text})) END")
        return f"CASE WHEN c = 0 OR {quoted} IS NULL THEN {text} ELSE {fresh} END AS {quoted}"
    return quoted


def _write_parquet(source: Path, folder: Path) -> None:
    con = _connect()
    for path in sorted(source.glob("*.jsonl")):
        quoted = str(path).replace("'", "''")
        target = str(folder / f"{path.stem}.parquet").replace("'", "''")
        con.execute(  # type: ignore[attr-defined]
            # sample_size = -1: a column that first appears after DuckDB's default sample (20,480 records) would
            # otherwise be left out of the Parquet file, and the Parquet hunt would see other data
            f"COPY (SELECT * FROM read_json('{quoted}', format = 'newline_delimited', sample_size = -1)) "
            f"TO '{target}' "
            "(FORMAT parquet)"
        )
    for extra in ("apps.json", "planted.json"):
        shutil.copy2(source / extra, folder / extra)
    shutil.copytree(source / "jwks", folder / "jwks")


_TIME_FIELD = b'"TimeGenerated":"'
_NULL_FIELD = re.compile(rb',"[A-Za-z0-9_]+":null(?=[,}])')  # never the first field: the writer puts a key first


def _write_data_export(source: Path, folder: Path) -> None:
    """Each table's JSON lines split into hourly blobs, as data export writes them."""
    for path in sorted(source.glob("*.jsonl")):
        table = path.stem
        type_field = b'{"Type":' + json.dumps(table).encode() + b","
        container = folder / f"am-{table.lower()}" / _WORKSPACE_PATH
        for hour, lines in _by_hour(path):
            year, month, day, hh = (part.decode() for part in hour)
            blob = container / f"y={year}" / f"m={month}" / f"d={day}" / f"h={hh}" / "m=00" / "PT1H.json"
            blob.parent.mkdir(parents=True, exist_ok=True)
            with blob.open("ab") as handle:
                handle.writelines(type_field + (_NULL_FIELD.sub(b"", line) if b":null" in line else line)[1:]
                                  for line in lines)
    for extra in ("apps.json", "planted.json"):
        shutil.copy2(source / extra, folder / extra)
    shutil.copytree(source / "jwks", folder / "jwks")


def _by_hour(path: Path) -> Iterator[tuple[tuple[bytes, ...], list[bytes]]]:
    """Runs of consecutive lines in the same hour (the file is sorted by copy, then time)."""
    current: tuple[bytes, ...] | None = None
    lines: list[bytes] = []
    with path.open("rb") as handle:
        for line in handle:
            at = line.find(_TIME_FIELD) + len(_TIME_FIELD)
            stamp = line[at:at + 13]  # 2026-11-19T13
            hour = (stamp[0:4], stamp[5:7], stamp[8:10], stamp[11:13])
            if hour != current and lines:
                assert current is not None
                yield current, lines
                lines = []
            current = hour
            lines.append(line)
    if lines and current is not None:
        yield current, lines
