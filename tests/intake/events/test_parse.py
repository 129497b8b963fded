"""Event Grid dispatch input: each event type in both delivery schemas, built as the real
``azure.functions`` objects the trigger hands over, plus unknown and malformed events."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from shared.cases.merge import new_case, sightings
from shared.cases.principal import case_id, own_principal
from shared.core.errors import DataError
from shared.detect.ruleset import load_rules
from shared.intake.events import (
    ANOMALY_RULE_ID,
    EVENT_TYPE_MONITOR_ALERT,
    KeyVaultKeyEvent,
    MonitorAlert,
    TokenAnomaly,
    UnknownEvent,
    event_from_cloudevent,
    event_from_eventgrid,
    parse_event,
)

SUBSCRIPTION = "/subscriptions/00000000-0000-0000-0000-000000000000"
VAULT_TOPIC = f"{SUBSCRIPTION}/resourceGroups/rg-tw/providers/Microsoft.KeyVault/vaults/kv-tw"
APP_TOPIC = f"{SUBSCRIPTION}/resourceGroups/rg-tw/providers/Microsoft.EventGrid/topics/evgt-tw"
WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

KEY_DATA: dict[str, Any] = {
    "Id": "https://kv-tw.vault.azure.net/keys/app-signing/6c1f0b8d2e3a4f5b9c7d8e9f0a1b2c3d",
    "VaultName": "kv-tw",
    "ObjectType": "Key",
    "ObjectName ": "app-signing",  # the stray space is in Microsoft's own sample
    "Version": " 6c1f0b8d2e3a4f5b9c7d8e9f0a1b2c3d",
    "NBF": "1772366400",
    "EXP": 1803902400,
}

LOG_ALERT: dict[str, Any] = {
    "schemaId": "azureMonitorCommonAlertSchema",
    "data": {
        "essentials": {
            "alertId": f"{SUBSCRIPTION}/providers/Microsoft.AlertsManagement/alerts/1b2c3d4e-0000-4000-8000-0000001",
            "alertRule": "tokenwarden-compromised-signing-key",
            "severity": "Sev1",
            "signalType": "Log",
            "monitorCondition": "Fired",
            "monitoringService": "Log Alerts V2",
            "firedDateTime": "2026-03-01T12:01:02.1234567Z",
            "essentialsVersion": "1.0",
            "alertContextVersion": "1.0",
        },
        "alertContext": {
            "properties": None,
            "conditionType": "LogQueryCriteria",
            "condition": {
                "windowSize": "PT15M",
                "allOf": [{"searchQuery": "TokenValidation_CL | take 1", "operator": "GreaterThan",
                           "threshold": "0", "timeAggregation": "Count", "metricValue": 3.0}],
                "windowStartTime": "2026-03-01T11:45:00Z",
                "windowEndTime": "2026-03-01T12:00:00Z",
            },
        },
    },
}

ANOMALY: dict[str, Any] = {
    "TimeGenerated": "2026-03-01T11:58:00Z",
    "AppId": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
    "AppName": "Contoso Payroll API",
    "Audience": "api://contoso-payroll",
    "Issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
    "TokenTenantId": "9188040d-6c67-4c5b-b112-36a304b66dad",
    "KeyId": "1LTMzakihiRla_8z2BEJVXeWMqo",
    "Algorithm": "RS256",
    "TokenId": "zr9f8nXh8k2yq0w1xGQ0AA",
    "ObjectId": "0F8FAD5B-D9CB-469F-A165-70867728950E",
    "Upn": "adele@contoso.example",
    "ClientIp": "203.0.113.7",
    "Outcome": "Rejected",
    "FailureReason": "consumer issuer for an organizations-only app",
    "ExpiresAt": "2026-03-01T12:58:00Z",
}


def _eventgrid(event_type: str, data: Any, topic: str = VAULT_TOPIC, **kw: Any) -> func.EventGridEvent:
    return func.EventGridEvent(id=kw.get("id", "evt-1"), data=data, topic=topic, subject=kw.get("subject", "s"),
                               event_type=event_type, event_time=kw.get("event_time", WHEN), data_version="1")


def _cloud(event_type: str, data: Any, source: str = VAULT_TOPIC, **kw: Any) -> func.CloudEvent:
    return func.CloudEvent(id=kw.get("id", "evt-1"), source=source, type=event_type, specversion="1.0",
                           data=data, time=kw.get("time", WHEN), subject=kw.get("subject", "s"))


Builder = Callable[[str, Any], dict[str, object]]
BUILDERS: dict[str, Builder] = {
    "eventgrid": lambda event_type, data: event_from_eventgrid(_eventgrid(event_type, data)),
    "cloudevents": lambda event_type, data: event_from_cloudevent(_cloud(event_type, data)),
}
schemas = pytest.mark.parametrize("schema", sorted(BUILDERS))


@schemas
@pytest.mark.parametrize(("event_type", "kind"), [
    ("Microsoft.KeyVault.KeyNewVersionCreated", "new_version"),
    ("Microsoft.KeyVault.KeyNearExpiry", "near_expiry"),
    ("Microsoft.KeyVault.KeyExpired", "expired"),
])
def test_key_vault_key_events(schema: str, event_type: str, kind: str) -> None:
    event = parse_event(BUILDERS[schema](event_type, KEY_DATA))
    assert isinstance(event, KeyVaultKeyEvent)
    assert event.kind == kind
    assert event.object_name == "app-signing"
    assert event.version == "6c1f0b8d2e3a4f5b9c7d8e9f0a1b2c3d"
    assert event.vault_name == "kv-tw"
    assert event.key_id.endswith("/keys/app-signing/6c1f0b8d2e3a4f5b9c7d8e9f0a1b2c3d")
    assert event.not_before == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert event.expires == datetime.fromtimestamp(1803902400, UTC)
    assert event.event_time == WHEN
    assert event.topic == VAULT_TOPIC


def test_key_event_without_expiry_keeps_none() -> None:
    data = {**KEY_DATA, "EXP": None, "NBF": None}
    event = parse_event(BUILDERS["eventgrid"]("Microsoft.KeyVault.KeyNewVersionCreated", data))
    assert isinstance(event, KeyVaultKeyEvent)
    assert event.expires is None


def test_key_event_with_camel_case_fields_as_sdk_models_spell_them() -> None:
    data = {"id": KEY_DATA["Id"], "vaultName": "kv-tw", "objectType": "Key", "objectName": "app-signing",
            "version": "v1", "nbf": 1772366400, "exp": 1803902400}
    event = parse_event(BUILDERS["cloudevents"]("Microsoft.KeyVault.KeyExpired", data))
    assert isinstance(event, KeyVaultKeyEvent)
    assert event.version == "v1"


@schemas
def test_monitor_log_search_alert_maps_to_its_rule(schema: str) -> None:
    rule_ids = load_rules().ids
    event = parse_event(BUILDERS[schema](EVENT_TYPE_MONITOR_ALERT, LOG_ALERT), rule_ids=rule_ids)
    assert isinstance(event, MonitorAlert)
    assert event.rule_id == "compromised-signing-key"
    assert event.rule_name == "tokenwarden-compromised-signing-key"
    assert event.severity == "Sev1"
    assert event.window_start == datetime(2026, 3, 1, 11, 45, tzinfo=UTC)
    assert event.window_end == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert event.fired_at is not None and event.fired_at.microsecond == 123456
    assert event.search_query == "TokenValidation_CL | take 1"
    assert event.alert_id.endswith("0000001")


def test_monitor_alert_for_a_foreign_rule_has_no_rule_id() -> None:
    alert = copy.deepcopy(LOG_ALERT)
    alert["data"]["essentials"]["alertRule"] = "CPU over 90%"
    event = parse_event(BUILDERS["eventgrid"](EVENT_TYPE_MONITOR_ALERT, alert), rule_ids=load_rules().ids)
    assert isinstance(event, MonitorAlert)
    assert event.rule_id is None


def test_legacy_log_search_alert_window_in_us_format() -> None:
    alert = copy.deepcopy(LOG_ALERT)
    alert["data"]["alertContext"] = {
        "SearchQuery": "TokenValidation_CL",
        "SearchIntervalStartTimeUtc": "3/1/2026 11:45:00 AM",
        "SearchIntervalEndtimeUtc": "3/1/2026 12:00:00 PM",
        "ResultCount": 2,
    }
    alert["data"]["essentials"]["alertRule"] = "Tokenwarden: issuer-tenant-mismatch"
    event = parse_event(BUILDERS["cloudevents"](EVENT_TYPE_MONITOR_ALERT, alert), rule_ids=load_rules().ids)
    assert isinstance(event, MonitorAlert)
    assert event.rule_id == "issuer-tenant-mismatch"
    assert event.window_start == datetime(2026, 3, 1, 11, 45, tzinfo=UTC)
    assert event.window_end == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert event.search_query == "TokenValidation_CL"


def test_unwrapped_common_alert_data_is_accepted() -> None:
    event = parse_event(BUILDERS["eventgrid"](EVENT_TYPE_MONITOR_ALERT, LOG_ALERT["data"]))
    assert isinstance(event, MonitorAlert)
    assert event.rule_id is None  # no rule ids given


@schemas
def test_token_anomaly_becomes_a_finding_the_case_builder_accepts(schema: str) -> None:
    event = parse_event(BUILDERS[schema]("Tokenwarden.TokenAnomaly", ANOMALY))
    assert isinstance(event, TokenAnomaly)
    finding = event.finding
    assert finding.rule_id == ANOMALY_RULE_ID
    assert finding.key_id == "1LTMzakihiRla_8z2BEJVXeWMqo"
    assert finding.first_seen == finding.last_seen == datetime(2026, 3, 1, 11, 58, tzinfo=UTC)
    assert finding.tenant_id == "9188040d-6c67-4c5b-b112-36a304b66dad"
    assert finding.source_table == "TokenValidation_CL"
    assert finding.evidence["reason"] == event.reason
    assert finding.evidence["expires_at"] == "2026-03-01T12:58:00Z"
    principal = own_principal(finding)
    assert principal is not None and principal.key == "user:0f8fad5b-d9cb-469f-a165-70867728950e"
    case = new_case(case_id=case_id(principal, 1), principal=principal, generation=1,
                    sightings_=sightings([finding]), at=WHEN)
    assert case.rule_ids == (ANOMALY_RULE_ID,)
    assert finding.to_json()["evidence"]["event_id"] == "evt-1"


def test_token_anomaly_by_x5t_and_upn_only() -> None:
    data = {**ANOMALY, "KeyId": None, "X5t": "1LTMzakihiRla_8z2BEJVXeWMqo", "ObjectId": ""}
    event = parse_event(event_from_eventgrid(_eventgrid("Tokenwarden.TokenAnomaly", data, topic=APP_TOPIC)))
    assert isinstance(event, TokenAnomaly)
    assert event.finding.key_id == "1LTMzakihiRla_8z2BEJVXeWMqo"
    assert event.finding.user_object_id is None
    assert event.finding.user_upn == "adele@contoso.example"
    assert event.finding.evidence["reported_by"] == APP_TOPIC


@schemas
def test_unknown_event_type_is_acknowledged_not_failed(schema: str) -> None:
    event = parse_event(BUILDERS[schema]("Microsoft.Storage.BlobCreated", {"url": "https://x"}))
    assert isinstance(event, UnknownEvent)
    assert event.event_type == "Microsoft.Storage.BlobCreated"


def test_raw_event_grid_and_cloudevents_json_are_accepted() -> None:
    raw_eg = {"id": "1", "topic": VAULT_TOPIC, "subject": "app-signing", "eventType": "Microsoft.KeyVault.KeyExpired",
              "eventTime": "2026-03-01T12:00:00.1234567Z", "data": KEY_DATA, "dataVersion": "1",
              "metadataVersion": "1"}
    raw_ce = {"id": "1", "source": VAULT_TOPIC, "type": "Microsoft.KeyVault.KeyExpired", "specversion": "1.0",
              "time": "2026-03-01T12:00:00Z", "data": KEY_DATA}
    for raw in (raw_eg, raw_ce):
        event = parse_event(raw)
        assert isinstance(event, KeyVaultKeyEvent)
        assert event.kind == "expired"


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    copied = copy.deepcopy(data)
    target = copied
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return copied


@pytest.mark.parametrize(("envelope", "message"), [
    (None, "event is not an object"),
    ([], "event is not an object"),
    ({"schema": "eventgrid", "type": "X", "data": {}}, "id: missing"),
    ({"schema": "eventgrid", "id": "1", "data": {}}, "type: missing"),
    ({"schema": "eventgrid", "id": "1", "type": "X", "data": None}, "data: expected an object, got nothing"),
    ({"schema": "eventgrid", "id": "1", "type": "X", "data": [1]}, "data: expected an object, got a list"),
    ({"schema": "eventgrid", "id": "1", "type": "X", "data": "{}"}, "data: expected an object, got a str"),
    ({"schema": "eventgrid", "id": "1", "type": "X", "data": {}, "time": "yesterday"}, "time: 'yesterday'"),
    ({"schema": "soap", "id": "1", "type": "X", "data": {}}, "schema: 'soap'"),
    ({"specversion": "0.3", "id": "1", "type": "X", "source": "s", "data": {}}, "specversion"),
    ({"id": 5, "eventType": "X", "data": {}}, "id: expected a string"),
])
def test_malformed_envelopes(envelope: object, message: str) -> None:
    with pytest.raises(DataError, match=message) as caught:
        parse_event(envelope)
    assert "\n" not in str(caught.value)


KV = "Microsoft.KeyVault.KeyNewVersionCreated"
TA = "Tokenwarden.TokenAnomaly"


@pytest.mark.parametrize(("event_type", "data", "message"), [
    (KV, _without(KEY_DATA, "VaultName"), r"data\.VaultName: missing"),
    (KV, {**KEY_DATA, "ObjectType": "Secret"}, r"data\.ObjectType: 'Secret'"),
    (KV, {**KEY_DATA, "EXP": "soon"}, r"data\.EXP: 'soon' is not Unix seconds"),
    (KV, {**KEY_DATA, "NBF": True}, r"data\.NBF: expected Unix seconds"),
    (KV, {**KEY_DATA, "EXP": "1e400"}, r"data\.EXP"),
    (EVENT_TYPE_MONITOR_ALERT, {**LOG_ALERT, "schemaId": "Microsoft.Insights/activityLogs"}, r"data\.schemaId"),
    (EVENT_TYPE_MONITOR_ALERT, {"schemaId": "azureMonitorCommonAlertSchema", "data": []}, r"data\.data: expected"),
    (EVENT_TYPE_MONITOR_ALERT, _without(LOG_ALERT, "data", "essentials", "alertId"),
     r"data\.data\.essentials\.alertId: missing"),
    (EVENT_TYPE_MONITOR_ALERT, {**LOG_ALERT, "data": {**LOG_ALERT["data"], "essentials": {
        **LOG_ALERT["data"]["essentials"], "severity": "Critical"}}}, r"severity: 'Critical'"),
    (EVENT_TYPE_MONITOR_ALERT, {**LOG_ALERT, "data": {**LOG_ALERT["data"], "alertContext": {
        "condition": {"windowStartTime": "later", "windowEndTime": "2026-03-01T12:00:00Z"}}}},
     r"condition\.windowStartTime: 'later'"),
    (EVENT_TYPE_MONITOR_ALERT, {"essentials": {}}, r"data\.essentials\.severity: missing"),
    (TA, _without(ANOMALY, "KeyId"), r"data\.KeyId: missing"),
    (TA, {**ANOMALY, "ObjectId": None, "Upn": None}, r"data\.ObjectId: missing"),
    (TA, _without(ANOMALY, "Issuer"), r"data\.Issuer: missing"),
    (TA, _without(ANOMALY, "TokenTenantId"), r"data\.TokenTenantId: missing"),
    (TA, _without(ANOMALY, "Audience"), r"data\.Audience: missing"),
    (TA, _without(ANOMALY, "AppId"), r"data\.AppId: missing"),
    (TA, _without(ANOMALY, "FailureReason"), r"data\.FailureReason: missing"),
    (TA, _without(ANOMALY, "TimeGenerated"), r"data\.TimeGenerated: missing"),
    (TA, {**ANOMALY, "TimeGenerated": 1772366400}, r"data\.TimeGenerated: expected an ISO 8601 time"),
    (TA, {**ANOMALY, "Upn": ["a"]}, r"data\.Upn: expected a string, got a list"),
])
def test_malformed_known_events_name_the_field(event_type: str, data: Any, message: str) -> None:
    for build in BUILDERS.values():
        with pytest.raises(DataError, match=message) as caught:
            parse_event(build(event_type, data))
        assert "\n" not in str(caught.value)
