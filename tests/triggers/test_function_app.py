"""The Function App as the host sees it: indexed functions, their bindings, and the timer end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import function_app
from shared.devkit.demo_data.generate import generate_demo_data
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


QUEUE = {"connection": "AzureWebJobsStorage", "queueName": "tokenwarden-respond"}


def _http(route: str, method: str, auth: str = "FUNCTION") -> set[str]:
    trigger = {"type": "httpTrigger", "direction": "IN", "route": route, "methods": [method], "authLevel": auth}
    return {json.dumps(trigger, sort_keys=True), json.dumps({"type": "http", "direction": "OUT"}, sort_keys=True)}


def _bindings(*bindings: dict[str, object]) -> set[str]:
    return {json.dumps(b, sort_keys=True) for b in bindings}


EXPECTED_BINDINGS: dict[str, set[str]] = {
    "scan": _bindings({"type": "timerTrigger", "direction": "IN", "schedule": "%SCAN_SCHEDULE%",
                       "runOnStartup": False, "useMonitor": True}, {"type": "queue", "direction": "OUT", **QUEUE}),
    "key_drift": _bindings({"type": "timerTrigger", "direction": "IN", "schedule": "%KEY_DRIFT_SCHEDULE%",
                            "runOnStartup": False, "useMonitor": True}),
    "respond": _bindings({"type": "queueTrigger", "direction": "IN", **QUEUE}),
    "respond_poison": _bindings({"type": "queueTrigger", "direction": "IN", "connection": "AzureWebJobsStorage",
                                 "queueName": "tokenwarden-respond-poison"}),
    "events": _bindings({"type": "eventGridTrigger", "direction": "IN"},
                        {"type": "queue", "direction": "OUT", **QUEUE}),
    # The two routes that answer 202 queue their cases' work for the respond worker.
    "sentinel_incident": _http("sentinel/incident", "POST") | _bindings({"type": "queue", "direction": "OUT", **QUEUE}),
    "manual_scan": _http("scan", "POST"),
    "manual_respond": _http("respond", "POST") | _bindings({"type": "queue", "direction": "OUT", **QUEUE}),
    "analyze_token": _http("tokens/analyze", "POST"),
    "list_cases": _http("cases", "GET"),
    "get_case": _http("cases/{id}", "GET"),
    "approve_case": _http("cases/{id}/approve", "POST"),
    "health": _http("health", "GET"),
    "openapi": _http("openapi.json", "GET", "ANONYMOUS"),
}


def test_every_function_has_exactly_the_bindings_the_host_and_the_deployment_expect() -> None:
    """Schedules come from app settings, queues and connections are the ones Bicep grants, routes and auth
    levels are the API's. A new function or a changed binding must be added here on purpose."""
    found = {}
    for function in INDEXED:
        bindings = json.loads(function.get_function_json())["bindings"]
        found[function.get_function_name()] = {json.dumps({k: v for k, v in b.items() if k != "name"}, sort_keys=True)
                                               for b in bindings}
    assert found == EXPECTED_BINDINGS


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
