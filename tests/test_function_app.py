"""The Function App as the host sees it: indexed functions, their bindings, and the timer end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from shared.demo_data.generate import generate_demo_data
from tools.azurite import CONNECTION_SETTING, AzuriteEndpoints

pytest_plugins = ("tests.support.azurite",)  # the scan records into the ledger: Azurite locally

# The host indexes once; a second get_functions() call re-registers and fails on duplicate names.
INDEXED = function_app.app.get_functions()


def _functions() -> dict[str, object]:
    return {f.get_function_name(): f for f in INDEXED}


def test_scan_timer_binding_reads_its_schedule_from_an_app_setting() -> None:
    scan = _functions()["scan"]
    bindings = json.loads(scan.get_function_json())["bindings"]  # type: ignore[attr-defined]
    by_type = {b["type"]: b for b in bindings}
    assert by_type["timerTrigger"] == {"direction": "IN", "type": "timerTrigger", "name": "timer",
                                       "schedule": "%SCAN_SCHEDULE%", "runOnStartup": False, "useMonitor": True}
    assert by_type["queue"] == {"direction": "OUT", "type": "queue", "name": "work",
                                "queueName": "tokenwarden-respond", "connection": "AzureWebJobsStorage"}


def test_exactly_one_function_app_is_registered() -> None:
    assert isinstance(function_app.app, func.FunctionApp)
    names = [f.get_function_name() for f in INDEXED]
    assert len(names) == len(set(names))


def test_scan_timer_logs_the_planted_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              caplog: pytest.LogCaptureFixture, azurite: AzuriteEndpoints) -> None:
    summary = generate_demo_data(tmp_path, users=20, days=2, seed=3)
    monkeypatch.setenv("LOCAL_LOGS_DIR", str(tmp_path))
    jwks = tmp_path / "jwks"
    monkeypatch.setenv("KEY_SOURCES", f"{jwks / 'organizations.json'},{jwks / 'consumers.json'}")
    monkeypatch.setenv("APP_CATALOG_FILE", str(tmp_path / "apps.json"))
    monkeypatch.setenv("SCAN_LOOKBACK", "24h")
    monkeypatch.setenv("SCAN_MAX_CHUNK", "25h")  # one query per rule for the day
    monkeypatch.setenv(CONNECTION_SETTING, azurite.connection_string)
    scan = _functions()["scan"]
    queued: list[list[str]] = []

    class Work(func.Out[list[str]]):
        def set(self, val: list[str]) -> None:
            queued.append(val)

        def get(self) -> list[str]:
            return queued[-1]

    with caplog.at_level(logging.INFO, logger="tokenwarden.scan"):
        scan.get_user_function()(TimerRequest(past_due=True), Work())  # type: ignore[attr-defined]
    assert len(queued) == 1 and all(json.loads(m)["case_id"] for m in queued[0])
    findings = [json.loads(r.getMessage().removeprefix("finding ")) for r in caplog.records
                if r.getMessage().startswith("finding ")]
    planted_attacks = {(c.rule_id, c.token_id or c.user_upn) for c in summary.planted if c.kind == "attack"}
    fired = {(f["rule_id"], f["token_id"] or f["user_upn"]) for f in findings}
    assert planted_attacks <= fired
    assert any("past due" in r.getMessage() for r in caplog.records)
    assert any(r.getMessage().startswith("scan complete:") for r in caplog.records)
