"""The hunt as users run it, from files: ``tokenwarden hunt --logs`` beside DuckDB's own ``CREATE TABLE AS``.

For each scale (rows in total across the tables) and each layout (JSON lines, data-export blobs, Parquet;
see :mod:`bench.file_data`), in one run and side by side:

- **floor**: a fresh ``python`` that loads the same files with DuckDB alone, one
  ``CREATE TABLE … AS SELECT * FROM read_json_auto(…)`` per table (``read_parquet`` for Parquet;
  ``union_by_name`` over a data export's blobs, whose fields vary), into an in-memory database;
- **hunt**: ``tokenwarden hunt --logs DIR`` over the scanned day with every rule, the folder's JWKS and app
  catalogue, ``--memory-limit`` :data:`MEMORY_LIMIT`, findings written to a file;
- for JSON lines, also the hunt run twice with ``--workspace-dir``: the first loads and saves, the second
  reuses (no file changed) and pays only the rules.

Each runs under ``/usr/bin/time``, which reports its wall time and peak RSS (the child's own high-water
mark: ``getrusage`` from this process would carry the parent's across ``exec``). Ratios, not seconds, are what
compare across machines; the machine is shared, so a figure is one run's.

Environment: ``BENCH_FILE_SCALES`` (default ``1000000,5000000,20000000``), ``BENCH_FILE_LAYOUTS`` (default all
three), ``BENCH_FILE_CACHE`` (default ``out/bench-files``; generated data stays there for the next run),
``BENCH_FILE_MEMORY_LIMIT`` (default 6GB), ``BENCH_FILE_REUSE=0`` (skip the two ``--workspace-dir`` hunts),
``BENCH_FILE_SEED_USERS`` (default 1000), ``BENCH_FILE_RULES`` (rule ids for ``--rules``; default every
rule). ``make test`` never runs the scales; tests/bench/test_files_bench.py
runs the whole path once on a tiny tenant.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.file_data import FILE_BENCH_END, LAYOUTS, dataset, jsonl_bytes

__all__ = ["MEMORY_LIMIT", "limit_bytes", "print_files", "run_files_bench"]

MEMORY_LIMIT = os.environ.get("BENCH_FILE_MEMORY_LIMIT", "6GB")
_DEFAULT_SCALES = "1000000,5000000,20000000"
_TIME = "/usr/bin/time"
_FLOOR = r"""
import glob, sys, duckdb
folder, layout = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
def q(p): return "'" + p.replace("'", "''") + "'"
if layout == "jsonl":
    sources = {p: f"read_json_auto({q(p)})" for p in sorted(glob.glob(folder + "/*.jsonl"))}
elif layout == "parquet":
    sources = {p: f"read_parquet({q(p)})" for p in sorted(glob.glob(folder + "/*.parquet"))}
else:
    sources = {c: f"read_json_auto({q(c + '/**/*.json')}, union_by_name = true, hive_partitioning = false)"
               for c in sorted(glob.glob(folder + "/am-*"))}
rows = 0
for index, (path, reader) in enumerate(sources.items()):
    con.execute(f"CREATE TABLE t{index} AS SELECT * FROM {reader}")
    rows += con.execute(f"SELECT count(*) FROM t{index}").fetchone()[0]
print(rows)
"""


def _timed(command: list[str], cwd: Path) -> dict[str, object]:
    """Run ``command`` under /usr/bin/time; its wall seconds, peak RSS in bytes, stdout and stderr."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        completed = subprocess.run([_TIME, "-f", "%e %M", "-o", report.name, *command], cwd=cwd,
                                   capture_output=True, text=True, check=False)
        wall, peak_kib = report.read().split()[-2:]
    if completed.returncode not in (0, 1):  # 1: the hunt's "incomplete" (a rule with no input) is still a run
        raise RuntimeError(f"{command[:4]} failed ({completed.returncode}): {completed.stderr[-2000:]}")
    return {"seconds": float(wall), "peak_rss": int(peak_kib) * 1024, "stdout": completed.stdout,
            "stderr": completed.stderr}


def _hunt_command(folder: Path, output: Path, workspace_dir: Path | None) -> list[str]:
    since = FILE_BENCH_END - timedelta(days=1)
    command = [sys.executable, "-m", "shared.cli.main", "hunt", "--logs", str(folder),
               "--since", f"{since:%Y-%m-%dT%H:%M:%SZ}", "--until", f"{FILE_BENCH_END:%Y-%m-%dT%H:%M:%SZ}",
               "--apps", str(folder / "apps.json"), "--format", "json", "--output", str(output),
               "--memory-limit", MEMORY_LIMIT]
    for jwks in sorted((folder / "jwks").glob("*.json")):
        command += ["--jwks", str(jwks)]
    if workspace_dir is not None:
        command += ["--workspace-dir", str(workspace_dir)]
    if os.environ.get("BENCH_FILE_RULES"):
        command += ["--rules", os.environ["BENCH_FILE_RULES"]]
    return command


_UNITS = {"kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def limit_bytes(limit: str) -> int:
    """``8GB`` -> bytes, as DuckDB reads ``memory_limit`` (GB = 1000^3, GiB = 1024^3): the whole process's
    peak RSS is held to it, not only DuckDB's buffer pool, so "within 8 GB" is what the figure proves."""
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]i?B)\s*", limit, re.IGNORECASE)
    if match is None:
        raise ValueError(f"BENCH_FILE_MEMORY_LIMIT {limit!r} is not a size such as 8GB")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


_RULE_LINE = re.compile(r"\]\s+\S+: (\d+) findings in ([\d.]+)s")


def run_layout(cache: Path, rows: int, layout: str, root: Path) -> dict[str, object]:
    folder = dataset(cache, rows, layout)
    size = jsonl_bytes(dataset(cache, rows, "jsonl"))
    with tempfile.TemporaryDirectory(prefix="tokenwarden-files-bench-") as scratch:
        output = Path(scratch) / "findings.json"
        # the hunt first: at 20M rows DuckDB's in-memory copy is the run that may not fit beside other work
        hunt = _timed(_hunt_command(folder, output, None), root)
        print(json.dumps({"layout": layout, "hunt_seconds": hunt["seconds"], "hunt_peak_rss": hunt["peak_rss"]}),
              file=sys.stderr, flush=True)  # a floor that is stopped or fails must not cost the hunt's figures
        floor = _timed([sys.executable, "-c", _FLOOR, str(folder), layout], root)
        findings = len(json.loads(output.read_text(encoding="utf-8")))
        rules = _RULE_LINE.findall(str(hunt["stderr"]))
        result: dict[str, object] = {
            "rows": int(str(floor["stdout"]).strip().splitlines()[-1]), "layout": layout, "jsonl_bytes": size,
            "files": sum(1 for path in folder.rglob("*") if path.is_file() and path.parent.name != "jwks"
                         and path.name not in ("apps.json", "planted.json", ".complete")),
            "floor_seconds": floor["seconds"], "floor_peak_rss": floor["peak_rss"],
            "hunt_seconds": hunt["seconds"], "hunt_peak_rss": hunt["peak_rss"],
            "rule_seconds": sum(float(seconds) for _, seconds in rules), "findings": findings,
            "memory_limit": MEMORY_LIMIT, "within_limit": int(str(hunt["peak_rss"])) <= limit_bytes(MEMORY_LIMIT),
        }
        if layout == "jsonl" and os.environ.get("BENCH_FILE_REUSE", "1") != "0":
            workspace = Path(scratch) / "workspace"
            first = _timed(_hunt_command(folder, output, workspace), root)
            second = _timed(_hunt_command(folder, output, workspace), root)
            result.update({"saved_hunt_seconds": first["seconds"], "saved_hunt_peak_rss": first["peak_rss"],
                           "reused_hunt_seconds": second["seconds"], "reused_hunt_peak_rss": second["peak_rss"],
                           "reused": "reusing the workspace" in str(second["stderr"])})
    return result


def run_files_bench() -> list[dict[str, object]]:
    root = Path(__file__).resolve().parent.parent
    cache = Path(os.environ.get("BENCH_FILE_CACHE", str(root / "out" / "bench-files")))
    scales = [int(part) for part in os.environ.get("BENCH_FILE_SCALES", _DEFAULT_SCALES).split(",") if part]
    layouts = [part for part in os.environ.get("BENCH_FILE_LAYOUTS", ",".join(LAYOUTS)).split(",") if part]
    results = []
    for rows in scales:
        for layout in layouts:
            print(f"hunt from files: {rows:,} rows as {layout} ...", file=sys.stderr, flush=True)
            results.append(run_layout(cache, rows, layout, root))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)  # a long run's figures survive its end
    return results


def print_files(results: list[dict[str, object]]) -> None:
    print(f"\n== hunt from files (--memory-limit {MEMORY_LIMIT}) beside DuckDB's CREATE TABLE AS ==")
    print(f"{'rows':>11} {'layout':<12}{'files':>7}{'JSONL GB':>9}{'floor s':>9}{'hunt s':>8}{'rules s':>8}"
          f"{'ratio':>7}{'peak GB':>8}{'B/B':>6}{'floor GB':>9}{'reuse s':>8}{'<=limit':>8}")
    for r in results:
        ratio = float(r["hunt_seconds"]) / float(r["floor_seconds"])  # type: ignore[arg-type]
        per_byte = int(r["hunt_peak_rss"]) / int(r["jsonl_bytes"])  # type: ignore[call-overload]
        reuse = f"{float(r['reused_hunt_seconds']):>8.1f}" if "reused_hunt_seconds" in r else f"{'':>8}"  # type: ignore[arg-type]
        print(f"{int(r['rows']):>11,} {r['layout']!s:<12}{int(r['files']):>7}"  # type: ignore[call-overload]
              f"{int(r['jsonl_bytes']) / 1e9:>9.2f}{float(r['floor_seconds']):>9.1f}"  # type: ignore[call-overload, arg-type]
              f"{float(r['hunt_seconds']):>8.1f}{float(r['rule_seconds']):>8.1f}{ratio:>6.2f}x"  # type: ignore[arg-type]
              f"{int(r['hunt_peak_rss']) / 2**30:>8.2f}{per_byte:>6.2f}"  # type: ignore[call-overload]
              f"{int(r['floor_peak_rss']) / 2**30:>9.2f}{reuse}{'yes' if r['within_limit'] else 'NO':>8}")  # type: ignore[call-overload]
    print("targets: ratio <= 1.5x at 5M rows and above; peak RSS <= 0.35 bytes per byte of JSONL; "
          "20M rows within 8 GB (BENCH_FILE_MEMORY_LIMIT=8GB: <=limit is the whole process's peak RSS)")
