"""Table Storage killed at every write index of a scan and of the responses: stranded cases, lost findings."""

from __future__ import annotations

import os

from bench.reliability.local import local_stack
from bench.reliability.storage_kill import KillRun, clean_counts, kill_run


def run() -> list[str]:
    stride = max(1, int(os.environ.get("RELIABILITY_KILL_STRIDE", "1")))
    stack = local_stack()
    clean = clean_counts(stack)
    runs = [kill_run(stack, clean, k) for k in range(1, clean.scan_writes + clean.respond_writes + 1, stride)]
    scan = [r for r in runs if r.phase == "scan"]
    respond = [r for r in runs if r.phase == "respond"]

    def row(name: str, chosen: list[KillRun]) -> str:
        return (f"| {name} | {len(chosen)} | {sum(r.stranded for r in chosen)} | {sum(r.lost for r in chosen)} "
                f"| {sum(r.duplicated for r in chosen)} |")

    return ["## Storage killed at every write index", "",
            f"A run without faults makes {clean.scan_writes} ledger writes in the scan and {clean.respond_writes} in "
            f"the responses that follow, storing {clean.findings} findings. Each run kills Table Storage at one "
            f"write index ({'every index' if stride == 1 else f'every {stride}th index'}, "
            "`RELIABILITY_KILL_STRIDE`, default 1), then lets it recover and runs the scan timer (re-queue) and "
            "the respond worker until nothing is queued. Every run has fresh tables (a clean ledger and no queued "
            "work) and a fresh Graph simulator; the counts come from that run's ledger and the simulator's write "
            "log. Scans query the demo logs through the local Log Analytics endpoint, served once; all runs start "
            "their scenario at the same instant, so they ask the same queries, and the endpoint answers a query it "
            "has answered before from memory (the logs do not change). Respond passes run without a workspace "
            "(no IP facts). Targets: 0 stranded, 0 lost, 0 duplicated.", "",
            "| killed during | runs | stranded cases | lost findings | duplicated tenant writes |",
            "|---|---|---|---|---|", row("scan", scan), row("responses", respond), ""]
