"""No stranded case: Table Storage dies at a write of a scan or of a response; after it returns, the scan timer's
re-queue (the outbox) brings every case to its end, with no finding lost and no tenant write duplicated.

The full sweep over the demo logs, one run per write index, is ``make reliability``
(bench/reliability/fig_storage_kill.py). Here: every write index of a scan that opens one case and of that
case's response (the demo logs cut to one attacked user), and three indexes of the full demo: the issue's
"after the third finding write", the scan's last write and one in the middle of the responses.
"""

from __future__ import annotations

import pytest

from bench.reliability.stack import Stack
from bench.reliability.storage_kill import CleanCounts, clean_counts, kill_run, one_user_logs
from tests.support.demo import DemoLogs
from tools.azurite import AzuriteEndpoints

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")


@pytest.fixture(scope="module")
def stack(azurite: AzuriteEndpoints, demo_logs: DemoLogs) -> Stack:
    return Stack(connection_string=azurite.connection_string, demo_folder=demo_logs.folder)


@pytest.fixture(scope="module")
def clean(stack: Stack) -> CleanCounts:
    counts = clean_counts(stack)
    assert counts.scan_writes > 3 and counts.respond_writes > 1 and counts.findings > 0
    return counts


@pytest.mark.parametrize("where", ["third write", "last scan write", "mid respond"])
def test_storage_killed_mid_run_strands_no_case_loses_no_finding_and_duplicates_no_write(
        stack: Stack, clean: CleanCounts, where: str) -> None:
    index = {"third write": 3, "last scan write": clean.scan_writes,
             "mid respond": clean.scan_writes + clean.respond_writes // 2}[where]
    run = kill_run(stack, clean, index)
    assert (run.stranded, run.lost, run.duplicated) == (0, 0, 0), run


@pytest.fixture(scope="module")
def one_case(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    folder = one_user_logs(stack.demo_folder, tmp_path_factory.mktemp("one-user-logs"))
    return Stack(connection_string=stack.connection_string, demo_folder=folder)


def test_storage_killed_at_every_write_of_a_scan_and_of_its_response_strands_nothing(one_case: Stack) -> None:
    clean = clean_counts(one_case)
    assert clean.findings > 0 and clean.scan_writes > 0 and clean.respond_writes > 0, clean
    runs = [kill_run(one_case, clean, k) for k in range(1, clean.scan_writes + clean.respond_writes + 1)]
    assert {run.phase for run in runs} == {"scan", "respond"}
    assert len(runs) == clean.scan_writes + clean.respond_writes
    bad = [run for run in runs if (run.stranded, run.lost, run.duplicated) != (0, 0, 0)]
    assert bad == [], bad
