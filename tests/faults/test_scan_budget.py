"""A scan that respects its time budget: each rule query gets a deadline from ``functionTimeout`` and the
queries left, so a Log Analytics endpoint that never answers ends the run early; the rules it could not run
are reported and keep their checkpoints for the next scan."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.errors import ConfigurationError
from shared.core.settings import load_settings
from shared.detect.logsources.log_analytics import LogAnalyticsSource
from shared.detect.ruleset import load_rules
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.scan import scan
from shared.jobs.time_budget import HOST_JSON, ScanBudget, function_timeout
from shared.jobs.wiring import build_hunt_context
from shared.ledger.checkpoint_store import CheckpointStore
from shared.ledger.connection import Ledger
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.graph import StaticCredential

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

WORKSPACE_ID = "00000000-0000-0000-0000-00000000beef"


@contextmanager
def hanging_endpoint() -> Iterator[str]:
    """A loopback port that accepts connections and never says a word (not even a TLS handshake)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_hanging_endpoint_ends_the_scan_early_and_leaves_the_rest_to_the_next(
        ledger: Ledger, demo_logs: DemoLogs) -> None:
    rules = load_rules()
    context = build_hunt_context(load_settings(demo_logs.environment()))
    policy = ScanPolicy(max_chunk=timedelta(hours=1), max_chunks=3, initial_lookback=timedelta(hours=3))
    budget = ScanBudget(seconds=5.0, minimum=1.0)  # 4 s for queries of at least 1 s each: 7 rules cannot all run
    with hanging_endpoint() as endpoint:
        source = LogAnalyticsSource(WORKSPACE_ID, credential=StaticCredential(), endpoint=endpoint)
        try:
            report = scan(source, rules, context=context, ledger=ledger, policy=policy, now=DEMO_END,
                          budget=budget)
        finally:
            source.close()
    not_run = [r.rule_id for r in report.runs if (r.message or "").startswith("not run")]
    timed_out = [r.rule_id for r in report.runs if r.status == "failed" and r.rule_id not in not_run]
    assert timed_out, report.runs  # the queries that were sent were cut at their deadline
    assert not_run, report.runs  # and the budget ran out before the others: reported, not silently dropped
    assert set(not_run) | set(timed_out) == {rule.id for rule in rules}
    assert budget.remaining() < budget.minimum  # it stopped because the budget was spent
    assert all(p.watermark_after == p.watermark_before for p in report.progress)
    assert CheckpointStore(ledger.checkpoints).watermarks() == {}  # every checkpoint untouched


def test_the_budget_comes_from_function_timeout(tmp_path: Path) -> None:
    assert function_timeout(HOST_JSON) == 600.0  # host.json: 00:10:00
    path = tmp_path / "host.json"
    for text, seconds in (('"00:05:00"', 300.0), ('"1.00:00:00"', 86400.0), ('"-1"', None)):
        path.write_text(json.dumps({"version": "2.0", "functionTimeout": json.loads(text)}), encoding="utf-8")
        assert function_timeout(path) == seconds
    path.write_text('{"functionTimeout": "ten minutes"}', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not a timespan"):
        function_timeout(path)
    budget = ScanBudget(seconds=100.0, minimum=5.0, clock=lambda: 0.0)
    assert budget.per_query(4) == 20.0  # 80 s (a fifth kept back) shared among four queries
    assert budget.per_query(100) == 5.0  # never less than the minimum while that much is left
