"""Concurrent approvals and deliveries of one case: duplicate tenant writes (target 0)."""

from __future__ import annotations

from bench.reliability.local import local_stack, trials
from bench.reliability.trials import concurrency_trial

SIZES = (2, 4, 8)


def run() -> list[str]:
    count = trials("CONCURRENCY_TRIALS", 100)
    stack = local_stack()
    lines = ["## Concurrent approvals and deliveries", "",
             f"N invocations start on one case at the same instant (a barrier); {count} trial(s) per row "
             "(`RELIABILITY_CONCURRENCY_TRIALS`, default 100). Duplicates are Graph writes beyond "
             "the first per (write, user), from the simulator's write log. Target: 0.", "",
             "| kind | N | trials | trials with a duplicate | duplicate writes |", "|---|---|---|---|---|"]
    for kind in ("approvals", "deliveries"):
        for n in SIZES:
            results = [concurrency_trial(stack, n, kind) for _ in range(count)]  # type: ignore[arg-type]
            lines.append(f"| {kind} | {n} | {count} | {sum(1 for r in results if r)} | {sum(results)} |")
    return [*lines, ""]
