"""``tokenwarden hunt`` on the same demo tenant through each source, as a user runs it: the ratio to ``--logs``.

Three hunts over the same exports and window, each the CLI in-process (``shared.cli.main``) with the same
keys and apps:

* ``--logs DIR``: load the files into the embedded workspace, then run the rules;
* ``--workspace-id … --endpoint``: the rules through ``azure-monitor-query`` to ``tokenwarden workspace serve``
  (a separate process, loaded before the clock starts), over loopback HTTP;
* ``--cluster … --database``: the rules through ``azure-kusto-data`` to duckdb-kql's Kusto server over the
  same data (loaded before the clock starts).

Each hunt runs ``RUNS`` times; the median is reported. The remote ratios say what the HTTP clients, the
wire format and the servers' own translation cost beside the local path's loading; they say nothing about
a real workspace or cluster, whose engines and networks differ.
"""

from __future__ import annotations

import io
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

__all__ = ["print_sources", "run_sources_bench"]

ROOT = Path(__file__).resolve().parent.parent
RUNS = 3
WORKSPACE_ID = "5b3c2a10-4e5f-4a6b-9c8d-7e6f5a4b3c2d"


def _hunt(*argv: str) -> tuple[float, int]:
    from shared.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code = main(["hunt", *argv], stdout=out, stderr=err)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"hunt {' '.join(argv[:2])} exited {code}: {err.getvalue()[-2000:]}")
    return elapsed, len(json.loads(out.getvalue()))


def run_sources_bench(users: int = 200, days: int = 7) -> dict[str, object]:
    from datetime import timedelta

    from shared.cli.main import main
    from shared.core.timeparse import parse_instant
    from shared.devkit.workspace_server.kusto_server import build_kusto_server, load_database

    with tempfile.TemporaryDirectory(prefix="tokenwarden-sources-") as scratch:
        folder = Path(scratch) / "demo"
        main(["demo-data", "--out", str(folder), "--users", str(users), "--days", str(days), "--seed", "9"],
             stdout=io.StringIO())
        end = json.loads((folder / "planted.json").read_text())["end"]
        since = (parse_instant(end) - timedelta(days=days)).isoformat()
        common = ["--jwks", str(folder / "jwks" / "organizations.json"), "--jwks",
                  str(folder / "jwks" / "consumers.json"), "--apps", str(folder / "apps.json"),
                  "--since", since, "--until", end, "--format", "json"]
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())

        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        env["PYTHONPATH"] = str(ROOT)
        server = subprocess.Popen([sys.executable, "-m", "shared.cli.main", "workspace", "serve", "--logs",
                                   str(folder), "--port", "0", "--workspace-id", WORKSPACE_ID],
                                  cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        kusto = build_kusto_server(load_database(folder, Path(scratch) / "Tokenwarden.duckdb"))
        thread = threading.Thread(target=kusto.serve_forever, daemon=True)
        thread.start()
        try:
            assert server.stderr is not None
            match = re.search(r"(http://127\.0\.0\.1:\d+)/v1/", server.stderr.readline())
            if match is None:
                raise RuntimeError("workspace serve did not start")
            paths = {
                "--logs": ["--logs", str(folder)],
                "--workspace-id --endpoint": ["--workspace-id", WORKSPACE_ID, "--endpoint", match.group(1)],
                "--cluster --database": ["--cluster", kusto.url, "--database", "Tokenwarden"],
            }
            timings: dict[str, list[float]] = {name: [] for name in paths}
            findings: dict[str, int] = {}
            for _ in range(RUNS):
                for name, argv in paths.items():
                    elapsed, count = _hunt(*argv, *common)
                    timings[name].append(elapsed)
                    findings[name] = count
        finally:
            kusto.shutdown()
            kusto.server_close()
            server.terminate()
            server.wait()
    medians = {name: statistics.median(values) for name, values in timings.items()}
    return {"users": users, "days": days, "export_bytes": size, "runs": RUNS, "seconds": medians,
            "findings": findings, "ratio_to_logs": {name: medians[name] / medians["--logs"] for name in medians}}


def print_sources(report: dict[str, object]) -> None:
    seconds = report["seconds"]
    ratios = report["ratio_to_logs"]
    findings = report["findings"]
    assert isinstance(seconds, dict) and isinstance(ratios, dict) and isinstance(findings, dict)
    print(f"\nhunt by source: demo tenant, {report['users']} users x {report['days']} days "
          f"({int(str(report['export_bytes'])) / 1e6:.1f} MB of exports), median of {report['runs']} runs")
    print(f"  {'source':<28} {'seconds':>8} {'ratio to --logs':>16} {'findings':>9}")
    for name, value in seconds.items():
        print(f"  {name:<28} {value:8.2f} {ratios[name]:15.2f}x {findings[name]:9d}")
