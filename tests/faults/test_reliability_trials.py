"""The reliability figures' trials, once each at small sizes, against their targets (0 duplicates, 0
unauthorised writes); ``make reliability`` runs them many times for docs/reliability.md."""

from __future__ import annotations

import pytest

from bench.reliability.__main__ import figure_modules
from bench.reliability.stack import Stack
from bench.reliability.trials import STEP_WRITES, concurrency_trial, lost_answer_trial, protection_trial
from tests.support.demo import DemoLogs
from tools.azurite import AzuriteEndpoints

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")


@pytest.fixture(scope="module")
def stack(azurite: AzuriteEndpoints, demo_logs: DemoLogs) -> Stack:
    return Stack(connection_string=azurite.connection_string, demo_folder=demo_logs.folder)


def test_the_figures_are_the_fig_modules_each_with_a_run() -> None:
    import importlib

    names = figure_modules()
    assert {n.rsplit(".", 1)[-1] for n in names} >= {"fig_concurrency", "fig_protection", "fig_storage_kill",
                                                      "fig_lost_answers"}
    assert all(callable(getattr(importlib.import_module(n), "run", None)) for n in names)


@pytest.mark.parametrize("n", [2, 4, 8])
@pytest.mark.parametrize("kind", ["approvals", "deliveries"])
def test_n_at_once_write_nothing_twice(stack: Stack, kind: str, n: int) -> None:
    assert concurrency_trial(stack, n, kind) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("fault", ["graph users 503", "graph memberships 503", "ledger aliases unreadable",
                                   "enrichment batch 500"])
def test_a_protected_user_is_never_written_under_a_fault(stack: Stack, fault: str) -> None:
    assert protection_trial(stack, fault) == 0  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["answer dropped after apply", "succeeded record lost"])
@pytest.mark.parametrize("step", sorted(STEP_WRITES))
def test_a_lost_answer_has_no_duplicate_effect(stack: Stack, step: str, how: str) -> None:
    assert lost_answer_trial(stack, step, how) == 0  # type: ignore[arg-type]
