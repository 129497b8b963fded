"""Property-based: every route, every trigger parser and the CLI, driven with generated hostile input (extreme
dates, lone surrogates, table-key characters, control characters, pasted tokens), never answer 500, never let an
exception escape where none may, and never log, answer or print a traceback (tests/support/fuzzing.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.ledger.connection import LedgerTableNames
from tests.support.demo import DemoLogs
from tests.support.function_env import set_offline_environment
from tests.support.fuzzing import Tally, fuzz_cli, fuzz_events, fuzz_queue, fuzz_routes

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

EXAMPLES = 40


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
            ledger_names: LedgerTableNames, ledger: object) -> None:
    set_offline_environment(monkeypatch, demo_logs.environment(**storage_environment), ledger_names)


def _clean(tally: Tally) -> None:
    assert tally.inputs >= EXAMPLES // 2, f"{tally.target}: only {tally.inputs} inputs ran"
    assert tally.clean, f"{tally.target}: {tally.server_errors} errors, {tally.tracebacks} tracebacks: {tally.failures}"


def test_every_route_survives_hostile_input(offline: None) -> None:
    tallies = fuzz_routes(EXAMPLES)
    assert len(tallies) >= 9
    for tally in tallies:
        _clean(tally)


def test_the_events_trigger_drops_bad_events_and_never_raises(offline: None) -> None:
    _clean(fuzz_events(EXAMPLES))


def test_the_respond_queue_refuses_bad_messages_in_one_line(offline: None) -> None:
    _clean(fuzz_queue(EXAMPLES))


def test_the_cli_answers_hostile_arguments_and_files_in_one_line(tmp_path: Path) -> None:
    _clean(fuzz_cli(EXAMPLES, tmp_path))
