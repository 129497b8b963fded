"""The ``events`` Event Grid trigger end to end: real ``azure.functions`` events in both delivery schemas, the
ledger on Azurite, key-cache restarts on the simulator's ARM, and scans of the demo tenant's exported logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest

import shared.ledger.connection
from functions.events import bp
from shared.core.resource_names import EVENT_TYPE_TOKEN_ANOMALY
from shared.devkit.simulator import SimulatorServer, TenantState
from shared.intake.events import ANOMALY_RULE_ID, EVENT_TYPE_MONITOR_ALERT
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger
from shared.respond.actions import ActionStore
from shared.respond.key_refresh import REFRESH_STEP, refresh_case_id
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.function_env import QueueOutput
from tests.support.graph import serving
from tests.support.ledgers import LedgerFactory

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

SUB = "00000000-0000-0000-0000-0000000000aa"
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/orders-api"
SITE_KEY = "rg-apps/orders-api"
VAULT_TOPIC = f"/subscriptions/{SUB}/resourceGroups/rg-tw/providers/Microsoft.KeyVault/vaults/kv-tw"
APP_TOPIC = f"/subscriptions/{SUB}/resourceGroups/rg-tw/providers/Microsoft.EventGrid/topics/evgt-tw"
KEY_DATA: dict[str, Any] = {
    "Id": "https://kv-tw.vault.azure.net/keys/app-signing/6c1f0b8d2e3a4f5b9c7d8e9f0a1b2c3d",
    "VaultName": "kv-tw", "ObjectType": "Key", "ObjectName": "app-signing",
    "Version": "6c1f0b8d2e3a4f5b9c7d8e9f0a1b2c3d", "NBF": "1772366400", "EXP": 1803902400,
}
ANOMALY: dict[str, Any] = {
    "TimeGenerated": "2026-03-01T11:58:00Z", "AppId": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    "AppName": "Contoso Payroll API", "Audience": "api://contoso-payroll",
    "Issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    "TokenTenantId": "9188040d-6c67-4c5b-b112-36a304b66dad", "KeyId": "1LTMzakihiRla_8z2BEJVXeWMqo",
    "TokenId": "zr9f8nXh8k2yq0w1xGQ0AA", "ObjectId": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "Upn": "adele@contoso.example", "ClientIp": "203.0.113.7", "Outcome": "Rejected",
    "FailureReason": "consumer issuer for an organizations-only app",
}
ALERT_RULE = "compromised-signing-key"


def log_alert(rule_name: str, *, start: datetime, end: datetime, condition: str = "Fired") -> dict[str, Any]:
    """A Log Alerts V2 alert in the common alert schema, as Microsoft's payload samples shape it."""
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {
        "essentials": {"alertId": f"/subscriptions/{SUB}/providers/Microsoft.AlertsManagement/alerts/a-1",
                       "alertRule": rule_name, "severity": "Sev1", "signalType": "Log", "monitorCondition": condition,
                       "monitoringService": "Log Alerts V2", "firedDateTime": end.isoformat()},
        "alertContext": {"conditionType": "LogQueryCriteria", "condition": {
            "windowSize": "PT24H", "windowStartTime": start.isoformat(), "windowEndTime": end.isoformat(),
            "allOf": [{"searchQuery": "TokenValidation_CL | take 1"}]}}}}


def eventgrid(event_type: str, data: Any, *, event_id: str, topic: str = VAULT_TOPIC) -> func.EventGridEvent:
    return func.EventGridEvent(id=event_id, data=data, topic=topic, subject="app-signing", event_type=event_type,
                               event_time=DEMO_END, data_version="1")


def cloudevent(event_type: str, data: Any, *, event_id: str, topic: str = VAULT_TOPIC) -> func.CloudEvent:
    return func.CloudEvent(id=event_id, source=topic, type=event_type, specversion="1.0", data=data, time=DEMO_END,
                           subject="app-signing")


SCHEMAS: dict[str, Callable[..., Any]] = {"eventgrid": eventgrid, "cloudevents": cloudevent}
schemas = pytest.mark.parametrize("schema", sorted(SCHEMAS))


@dataclass
class Invocation:
    invocation_id: str = "inv-events-test"


@dataclass
class Harness:
    simulator: SimulatorServer
    ledger: Ledger
    monkeypatch: pytest.MonkeyPatch

    def run(self, event: Any) -> list[str]:
        app = func.FunctionApp()
        app.register_functions(bp)
        (function,) = app.get_functions()
        out = QueueOutput()
        function.get_user_function()(event, out, Invocation())
        return [json.loads(message)["case_id"] for message in out.get()]

    def restarts(self) -> int:
        return self.simulator.state.site_restarts.get(SITE_KEY, 0)


@pytest.fixture
def harness(ledger: Ledger, ledger_factory: LedgerFactory, storage_environment: dict[str, str],
            demo_logs: DemoLogs, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    with serving(TenantState(tenant_id="aaaaaaaa-0000-0000-0000-000000000001")) as simulator:
        environment = demo_logs.environment(
            **storage_environment, GRAPH_ENDPOINT=simulator.url, ARM_ENDPOINT=simulator.url,
            CACHE_REFRESH_APPS=json.dumps([{"app_id": "*", "mechanism": "restart", "target": SITE}]))
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        # The adapter opens the ledger from settings; point it at this test's own tables.
        monkeypatch.setattr(shared.ledger.connection, "open_ledger",
                            lambda settings, **_: ledger_factory())
        yield Harness(simulator=simulator, ledger=ledger, monkeypatch=monkeypatch)


def test_events_binding_is_one_event_grid_trigger_with_a_respond_queue_output() -> None:
    app = func.FunctionApp()
    app.register_functions(bp)
    (function,) = app.get_functions()
    assert function.get_function_name() == "events"
    bindings = json.loads(function.get_function_json())["bindings"]
    assert sorted(bindings, key=lambda b: b["type"]) == [
        {"direction": "IN", "type": "eventGridTrigger", "name": "event"},
        {"direction": "OUT", "type": "queue", "name": "work", "queueName": "tokenwarden-respond",
         "connection": "AzureWebJobsStorage"},
    ]


# --- Key Vault key events ---------------------------------------------------------------------------------------
@schemas
@pytest.mark.parametrize("event_type", ["Microsoft.KeyVault.KeyNewVersionCreated", "Microsoft.KeyVault.KeyNearExpiry",
                                        "Microsoft.KeyVault.KeyExpired"])
def test_key_vault_event_restarts_registered_apps_once_and_rescans(harness: Harness, schema: str,
                                                                    event_type: str) -> None:
    event_id = f"kv-{schema}-{event_type.rsplit('.', 1)[-1]}"
    harness.run(SCHEMAS[schema](event_type, KEY_DATA, event_id=event_id))
    assert harness.restarts() == 1
    records = ActionStore(harness.ledger.actions).for_case(refresh_case_id("keys", f"event:{event_id}"))
    assert [(r.step, r.target, r.phase) for r in records] == [(REFRESH_STEP, f"restart:{SITE.lower()}", "succeeded")]
    harness.run(SCHEMAS[schema](event_type, KEY_DATA, event_id=event_id))  # Event Grid redelivers: no second restart
    assert harness.restarts() == 1


def test_key_vault_rescan_opens_cases_for_what_the_lookback_holds(harness: Harness) -> None:
    # The rescan covers [now - SCAN_LOOKBACK, now); reach back to the demo tenant's fixed days.
    lookback = datetime.now(UTC) - DEMO_END + timedelta(days=3)
    harness.monkeypatch.setenv("SCAN_LOOKBACK", f"{lookback.days}d")
    queued = harness.run(eventgrid("Microsoft.KeyVault.KeyNewVersionCreated", KEY_DATA, event_id="kv-rescan"))
    assert harness.restarts() == 1
    cases = CaseStore(harness.ledger.cases)
    assert queued and all(cases.get(c) is not None for c in queued)
    rules = {rule for c in queued for rule in cases.get(c).rule_ids}  # type: ignore[union-attr]
    # Every rule ran; the signing-key attacks fall in any window holding them (baseline rules need their own span).
    assert {"compromised-signing-key", "unpublished-signing-key"} <= rules


def test_failed_refresh_is_redelivered_before_any_rescan(harness: Harness,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from shared.core.errors import UpstreamError

    harness.monkeypatch.setenv("ARM_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: the restart fails
    harness.monkeypatch.setenv("GRAPH_ENDPOINT", "http://127.0.0.1:9")
    with caplog.at_level(logging.ERROR, logger="tokenwarden.events"), pytest.raises(UpstreamError):
        harness.run(eventgrid("Microsoft.KeyVault.KeyExpired", KEY_DATA, event_id="kv-down"))
    assert any("Event Grid will redeliver" in r.getMessage() for r in caplog.records)
    records = ActionStore(harness.ledger.actions).for_case(refresh_case_id("keys", "event:kv-down"))
    assert [r.phase for r in records] == ["failed"]


# --- Azure Monitor alerts ---------------------------------------------------------------------------------------
@schemas
def test_monitor_alert_scans_its_window_with_its_rule_and_queues_the_cases(harness: Harness, schema: str) -> None:
    alert = log_alert(f"tokenwarden-{ALERT_RULE}", start=DEMO_END - timedelta(hours=24), end=DEMO_END)
    queued = harness.run(SCHEMAS[schema](EVENT_TYPE_MONITOR_ALERT, alert, event_id=f"alert-{schema}",
                                         topic=APP_TOPIC))
    cases = CaseStore(harness.ledger.cases)
    assert queued
    assert {rule for c in queued for rule in cases.get(c).rule_ids} == {ALERT_RULE}  # type: ignore[union-attr]
    assert harness.restarts() == 0


def test_resolved_alert_is_acknowledged_without_a_scan(harness: Harness) -> None:
    alert = log_alert(f"tokenwarden-{ALERT_RULE}", start=DEMO_END - timedelta(hours=24), end=DEMO_END,
                      condition="Resolved")
    assert harness.run(eventgrid(EVENT_TYPE_MONITOR_ALERT, alert, event_id="alert-resolved", topic=APP_TOPIC)) == []
    assert list(harness.ledger.cases.list_entities()) == []


# --- app-reported token anomalies -------------------------------------------------------------------------------
@schemas
def test_token_anomaly_goes_straight_into_case_building(harness: Harness, schema: str) -> None:
    queued = harness.run(SCHEMAS[schema](EVENT_TYPE_TOKEN_ANOMALY, ANOMALY, event_id=f"anomaly-{schema}",
                                         topic=APP_TOPIC))
    case = CaseStore(harness.ledger.cases).get(queued[0])
    assert case is not None and case.rule_ids == (ANOMALY_RULE_ID,)
    assert ANOMALY["ObjectId"] in case.principal.key
    again = harness.run(SCHEMAS[schema](EVENT_TYPE_TOKEN_ANOMALY, ANOMALY, event_id=f"anomaly-{schema}",
                                        topic=APP_TOPIC))
    assert again == queued  # a redelivery finds the case still new and queues it again; nothing is duplicated


# --- unknown and malformed --------------------------------------------------------------------------------------
@schemas
def test_unknown_event_type_is_logged_and_acknowledged(harness: Harness, schema: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tokenwarden.events"):
        queued = harness.run(SCHEMAS[schema]("Microsoft.Storage.BlobCreated", {"url": "https://x"},
                                             event_id=f"unknown-{schema}", topic=APP_TOPIC))
    assert queued == []
    assert any("unknown type 'Microsoft.Storage.BlobCreated'" in r.getMessage() for r in caplog.records)


@schemas
@pytest.mark.parametrize(("event_type", "data", "message"), [
    ("Microsoft.KeyVault.KeyExpired", {**KEY_DATA, "ObjectType": "Secret"}, "data.ObjectType: 'Secret' is not 'Key'"),
    (EVENT_TYPE_TOKEN_ANOMALY, {**ANOMALY, "TimeGenerated": "yesterday"}, "data.TimeGenerated: 'yesterday' is not"),
    ("Microsoft.KeyVault.KeyNewVersionCreated", ["not", "an", "object"], "data: expected an object, got a list"),
])
def test_malformed_event_is_rejected_with_one_log_line(harness: Harness, schema: str, event_type: str, data: Any,
                                                       message: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tokenwarden.events"):
        queued = harness.run(SCHEMAS[schema](event_type, data, event_id=f"bad-{schema}"))
    assert queued == []
    rejected = [r for r in caplog.records if r.getMessage().startswith("rejected malformed event")]
    assert len(rejected) == 1 and message in rejected[0].getMessage() and "\n" not in rejected[0].getMessage()
    assert harness.restarts() == 0


def test_alert_window_longer_than_two_days_is_rejected(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    alert = log_alert(ALERT_RULE, start=DEMO_END - timedelta(days=30), end=DEMO_END)
    with caplog.at_level(logging.ERROR, logger="tokenwarden.events"):
        assert harness.run(eventgrid(EVENT_TYPE_MONITOR_ALERT, alert, event_id="alert-long", topic=APP_TOPIC)) == []
    assert any("longer than 2 days" in r.getMessage() for r in caplog.records)


# --- bad input is dropped with a logged reason, never raised (Event Grid would redeliver it for a day) -----------
@schemas
@pytest.mark.parametrize(("start", "end"), [
    ("0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00Z"),
    ("9999-12-31T22:00:00-14:00", "9999-12-31T23:59:59Z"),
    ("0001-01-01T00:00:00Z", None),
])
def test_an_alert_with_an_extreme_window_is_rejected_not_raised(harness: Harness, schema: str, start: str,
                                                                end: str | None,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    alert = log_alert(ALERT_RULE, start=DEMO_END - timedelta(hours=1), end=DEMO_END)
    condition = alert["data"]["alertContext"]["condition"]
    condition["windowStartTime"], condition["windowEndTime"] = start, end
    alert["data"]["essentials"]["firedDateTime"] = end or start
    queued = harness.run(SCHEMAS[schema](EVENT_TYPE_MONITOR_ALERT, alert, event_id=f"alert-extreme-{schema}",
                                         topic=APP_TOPIC))
    assert queued == []
    [line] = [r.getMessage() for r in caplog.records if "rejected malformed event" in r.getMessage()]
    assert "outside the supported range" in line and "\n" not in line


@schemas
def test_a_key_vault_event_with_an_extreme_unix_time_is_rejected_not_raised(harness: Harness, schema: str,
                                                                            caplog: pytest.LogCaptureFixture) -> None:
    data = {**KEY_DATA, "NBF": "-62135596800", "EXP": 253402300799}
    assert harness.run(SCHEMAS[schema]("Microsoft.KeyVault.KeyNearExpiry", data, event_id=f"kv-extreme-{schema}")) == []
    assert harness.restarts() == 0
    assert any("rejected malformed event" in r.getMessage() for r in caplog.records)
