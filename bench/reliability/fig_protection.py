"""A protected user named by another name while Graph, the ledger or enrichment fail: unauthorised writes (target 0)."""

from __future__ import annotations

from bench.reliability.local import local_stack, trials
from bench.reliability.trials import protection_trial

FAULTS = ("graph users 503", "graph memberships 503", "ledger aliases unreadable", "enrichment batch 500")


def run() -> list[str]:
    count = trials("PROTECTION_TRIALS", 2)
    stack = local_stack()
    lines = ["## Protected principals under faults", "",
             "The user is listed in `PROTECTED_PRINCIPALS` by UPN (by `group:<id>` for the membership row) and "
             "the case names it by object id, in `auto` mode. Unauthorised writes are Graph writes that reached "
             f"it. {count} trial(s) per fault (`RELIABILITY_PROTECTION_TRIALS`). Target: 0.", "",
             "| fault | trials | unauthorised writes |", "|---|---|---|"]
    for fault in FAULTS:
        total = sum(protection_trial(stack, fault) for _ in range(count))  # type: ignore[arg-type]
        lines.append(f"| {fault} | {count} | {total} |")
    return [*lines, ""]
