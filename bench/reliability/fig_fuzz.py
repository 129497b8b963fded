"""Fuzzed inputs per route and trigger, with the count of 500s and tracebacks (target: 0 and 0).

``run()`` starts its own Azurite, generates a small demo tenant, points the functions at both (Graph and ARM at a
closed port, ``RESPONSE_MODE=dry-run``), and drives every HTTP route, the events trigger, the respond queue worker
and the CLI with generated hostile input (tests/support/fuzzing.py: extreme dates, lone surrogates, table-key
characters, control characters, pasted tokens). The runner (``bench/reliability/__main__.py``) discovers this
module; on its own: ``python -c "from bench.reliability.fig_fuzz import run; print('\\n'.join(run()))"``.
``FUZZ_EXAMPLES`` sets the examples per target (default 200).
"""

from __future__ import annotations

import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["run"]

DEFAULT_EXAMPLES = 200


def run() -> list[str]:
    """The fuzz figures as markdown lines: one table row per route and trigger, then the totals."""
    import pytest

    from shared.devkit.demo_data.generate import generate_demo_data
    from tests.support.demo import DemoLogs
    from tests.support.function_env import set_offline_environment
    from tests.support.fuzzing import Tally, fuzz_cli, fuzz_events, fuzz_queue, fuzz_routes
    from tests.support.ledgers import unique_table_names
    from tools.azurite import CONNECTION_SETTING, Azurite

    examples = int(os.environ.get("FUZZ_EXAMPLES", str(DEFAULT_EXAMPLES)))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tokenwarden-fuzz-") as scratch, Azurite() as endpoints, \
            pytest.MonkeyPatch.context() as monkeypatch:
        folder = Path(scratch) / "logs"
        summary = generate_demo_data(folder, users=10, days=2, seed=5, end=datetime(2026, 3, 2, 12, tzinfo=UTC))
        logs = DemoLogs(folder=folder, summary=summary)
        environment = logs.environment(**{CONNECTION_SETTING: endpoints.connection_string})
        set_offline_environment(monkeypatch, environment, unique_table_names())
        tallies: list[Tally] = [*fuzz_routes(examples), fuzz_events(examples), fuzz_queue(examples),
                                fuzz_cli(examples, Path(scratch) / "cli")]
    elapsed = time.monotonic() - started
    lines = ["### Fuzzed inputs per route and trigger", "",
             f"{examples} generated inputs per target (hypothesis, derandomized): extreme and zoneless dates, lone "
             "surrogates, table-key characters, control characters, pasted bearer tokens and JWTs.", "",
             "| route or trigger | inputs | 500s / escaped exceptions | tracebacks |", "|---|---:|---:|---:|"]
    for tally in tallies:
        lines.append(f"| {tally.target} | {tally.inputs} | {tally.server_errors} | {tally.tracebacks} |")
    total = sum(t.inputs for t in tallies)
    errors = sum(t.server_errors for t in tallies)
    tracebacks = sum(t.tracebacks for t in tallies)
    lines += [f"| **all** | **{total}** | **{errors}** | **{tracebacks}** |", "",
              f"Target: 0 and 0. Run time {elapsed:.0f} s."]
    for tally in tallies:
        lines += [f"- {tally.target}: {failure}" for failure in tally.failures]
    return lines
