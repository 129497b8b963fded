"""Rule throughput on the embedded workspace at 1M and 5M rows per table.

Each scale runs in its own process so its peak RSS is its own. Beside every
rule's time, the same run measures the floor: a plain ``count()`` over the
tables the rule reads, through the same workspace and timespan. The ratio
(rule ÷ floor) is what to compare across machines; the seconds are what this
machine did today.

A rule's first run in a process also pays duckdb-kql's pure-Python translation
of its text (0.5-1 s for the longest rules), which production never pays
(Log Analytics runs KQL) and a hunt pays once per rule text. So each rule runs
twice: ``first_seconds`` is the first run, translation included, and
``seconds`` (the ratio's numerator) the second, warm one. The floor is the
fastest of three runs: one count over a few columns takes tens of
milliseconds, so a single run is mostly noise on a shared machine.

``BENCH_RULES`` (comma-separated rule ids) runs only those rules, to measure one
rule's change without waiting for the rest; the tables are built the same way.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from bench.synthetic import BENCH_END, build_tables

if TYPE_CHECKING:
    from shared.detect.logsources.base import QueryOutcome, TimeRange
    from shared.detect.logsources.local import LocalWorkspace

__all__ = ["run_scale", "run_scales"]

WINDOW = timedelta(days=1)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_query(workspace: LocalWorkspace, text: str, timespan: TimeRange | None,
                 label: str) -> tuple[float, QueryOutcome]:
    started = time.perf_counter()
    outcome = workspace.query(text, parameters={}, timespan=timespan, label=label)
    return time.perf_counter() - started, outcome


def run_scale(rows: int) -> dict[str, object]:
    """Build the tables, run every rule (or those ``BENCH_RULES`` names, comma-separated), and return the
    measurements (called in a child process). Each rule is timed against its own floor in the same run, so a
    subset's ratios are the same measurement as the full run's, not a shortcut around it."""
    only_rules = {part.strip() for part in os.environ.get("BENCH_RULES", "").split(",") if part.strip()}
    import duckdb_kql

    from shared.detect.hunt import HuntContext, rule_parameters, rule_timespan
    from shared.detect.keys.compromised import load_compromised_keys
    from shared.detect.keys.intel import KeyIntelligence
    from shared.detect.keys.jwks import PublishedKey
    from shared.detect.logsources.base import TimeRange
    from shared.detect.logsources.local import LocalWorkspace
    from shared.detect.rule_forms import render_rule
    from shared.detect.ruleset import load_rules

    with tempfile.TemporaryDirectory(prefix="tokenwarden-bench-") as scratch:
        database = Path(scratch) / "bench.duckdb"
        con = duckdb_kql.connect(str(database))
        started = time.perf_counter()
        build_tables(con, rows)
        con.close()
        build_seconds = time.perf_counter() - started
        published = tuple(PublishedKey(kid=kid, x5t=None, issuer=None, not_before=None, not_after=None,
                                       source="bench") for kid in ("kid-a", "kid-b"))
        from shared.detect.apps import AppCatalog, AppInfo

        apps = AppCatalog(apps=(
            AppInfo(app_id="app-community", display_name="community",
                    sign_in_audience="AzureADandPersonalMicrosoftAccount", identifiers=("app-community",)),
            AppInfo(app_id="app-payroll", display_name="payroll", sign_in_audience="AzureADMyOrg",
                    identifiers=("app-payroll",)),
        ))
        context = HuntContext(keys=KeyIntelligence(published=published, compromised=load_compromised_keys()),
                              apps=apps)
        available, _ = context.values()
        end = BENCH_END.replace(tzinfo=UTC)
        window = TimeRange(start=end - WINDOW, end=end)
        workspace = LocalWorkspace.open(database)
        results: list[dict[str, object]] = []
        try:
            for rule in load_rules():
                if only_rules and rule.id not in only_rules:
                    continue
                parameters = rule_parameters(rule, window, available)
                timespan = rule_timespan(rule, window, parameters)
                floor_query = " | union ".join(rule.meta.tables) if len(rule.meta.tables) == 1 else (
                    "union " + ", ".join(rule.meta.tables))
                floor = min(_timed_query(workspace, f"{floor_query} | count", timespan, "floor")[0]
                            for _ in range(3))
                # The text production sends: the rule's log-analytics form, its parameters bound as lets.
                text = render_rule(rule, "log-analytics", parameters)
                first, _ = _timed_query(workspace, text, timespan, rule.id)
                elapsed, outcome = _timed_query(workspace, text, timespan, rule.id)
                table = getattr(outcome, "table", None) or outcome.partial_table  # type: ignore[union-attr]
                rows_read = rows * len(rule.meta.tables)
                results.append({"rule": rule.id, "seconds": elapsed, "first_seconds": first, "floor_seconds": floor,
                                "findings": len(table.rows), "rows_read": rows_read,
                                "peak_rss_mb": _peak_rss_mb()})
        finally:
            workspace.close()
    return {"rows_per_table": rows, "build_seconds": build_seconds, "rules": results,
            "total_seconds": sum(float(r["seconds"]) for r in results),  # type: ignore[arg-type]
            "peak_rss_mb": _peak_rss_mb()}


def run_scales(scales: list[int]) -> list[dict[str, object]]:
    reports = []
    for rows in scales:
        print(f"building {rows:,} rows per table and running every rule ...", file=sys.stderr, flush=True)
        completed = subprocess.run(
            [sys.executable, "-c", f"import json; from bench.rules_bench import run_scale; "
                                   f"print(json.dumps(run_scale({rows})))"],
            capture_output=True, text=True, check=True,
        )
        reports.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    return reports


def print_report(reports: list[dict[str, object]]) -> None:
    for report in reports:
        rows = int(report["rows_per_table"])  # type: ignore[call-overload]
        print(f"\n== {rows:,} rows per table (tables built in {float(report['build_seconds']):.1f}s) ==")  # type: ignore[arg-type]
        print(f"{'rule':<34}{'1st s':>7}{'seconds':>9}{'rows/s':>14}{'floor s':>9}{'÷floor':>8}{'findings':>10}"
              f"{'peak MB':>9}")
        for item in report["rules"]:  # type: ignore[attr-defined]
            rate = item["rows_read"] / item["seconds"] if item["seconds"] else float("inf")
            ratio = item["seconds"] / item["floor_seconds"] if item["floor_seconds"] else float("inf")
            print(f"{item['rule']:<34}{item['first_seconds']:>7.2f}{item['seconds']:>9.2f}{rate:>14,.0f}"
                  f"{item['floor_seconds']:>9.3f}"
                  f"{ratio:>8.1f}{item['findings']:>10}{item['peak_rss_mb']:>9.0f}")
        total = float(report["total_seconds"])  # type: ignore[arg-type]
        peak = float(report["peak_rss_mb"])  # type: ignore[arg-type]
        print(f"{'all rules':<32}{total:>9.2f}   target < 5 s at 5M: {'met' if total < 5 else 'NOT met'}; "
              f"peak RSS {peak / 1024:.2f} GB (target < 6 GB)")
