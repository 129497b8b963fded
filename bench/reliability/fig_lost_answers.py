"""Graph answers lost after the write applied (or the ledger's record of success lost): duplicate effects per step."""

from __future__ import annotations

from bench.reliability.local import local_stack, trials
from bench.reliability.trials import STEP_WRITES, lost_answer_trial


def run() -> list[str]:
    count = trials("LOST_ANSWER_TRIALS", 2)
    stack = local_stack()
    lines = ["## Lost Graph answers after apply", "",
             "The simulator applies the step's write, then closes the connection unanswered "
             "(`drop_after_apply`); or the step succeeds and its `succeeded` record is lost (the ledger is back at "
             f"the intent) before another run resumes the case. {count} trial(s) per row "
             "(`RELIABILITY_LOST_ANSWER_TRIALS`). Duplicate effects are that step's writes beyond the first.", "",
             "| step | what was lost | trials | duplicate effects |", "|---|---|---|---|"]
    for step in sorted(STEP_WRITES):
        for how in ("answer dropped after apply", "succeeded record lost"):
            total = sum(lost_answer_trial(stack, step, how) for _ in range(count))  # type: ignore[arg-type]
            lines.append(f"| {step} | {how} | {count} | {total} |")
    return [*lines, ""]
