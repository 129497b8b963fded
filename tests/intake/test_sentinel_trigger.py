"""The Sentinel incident trigger body as a playbook forwards it: entities in, 400 vs 422 out."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.core.errors import DataError
from shared.intake.sentinel_incident import AccountRef, TriggerError, parse_incident_trigger

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sentinel_incident_trigger.json"
INCIDENT_GUID = "3f2a1b0c-9d8e-4f7a-a6b5-c4d3e2f1a0b9"


def _body() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return document


def _with_entities(entities: list[Any]) -> dict[str, Any]:
    body = _body()
    body["object"]["properties"]["relatedEntities"] = entities
    return body


def test_realistic_trigger_body_is_parsed() -> None:
    trigger = parse_incident_trigger(_body())
    assert trigger.incident_id.endswith(f"/providers/Microsoft.SecurityInsights/Incidents/{INCIDENT_GUID}")
    assert trigger.incident_name == INCIDENT_GUID
    assert trigger.incident_number == 4711
    assert trigger.severity == "High"
    assert trigger.status == "New"
    assert trigger.event_type == "Create"
    assert trigger.title.startswith("Tokenwarden:")
    assert trigger.workspace.workspace_name == "log-tokenwarden"
    assert trigger.workspace.subscription_id == "00000000-0000-0000-0000-000000000000"
    assert trigger.ips == ("203.0.113.7",)
    assert [app.name for app in trigger.cloud_apps] == ["Microsoft Exchange Online"]
    assert trigger.cloud_apps[0].app_id == "20893"
    assert trigger.hosts == ("wks-017.corp.contoso.example",)
    assert len(trigger.analytic_rule_ids) == 1
    assert trigger.skipped == ()


def test_accounts_resolve_by_aad_user_id_before_upn() -> None:
    trigger = parse_incident_trigger(_body())
    first, second = trigger.accounts
    assert first == AccountRef(aad_user_id="0f8fad5b-d9cb-469f-a165-70867728950e",
                               upn="adele@contoso.example", display="Adele Vance")
    assert first.key == "user:0f8fad5b-d9cb-469f-a165-70867728950e"
    assert second.aad_user_id is None
    assert second.key == "upn:grady@contoso.example"


def test_the_same_user_twice_is_one_account() -> None:
    account = {"kind": "Account", "properties": {"aadUserId": "0f8fad5b-d9cb-469f-a165-70867728950e"}}
    richer = {"kind": "Account", "properties": {"AadUserId": "0F8FAD5B-D9CB-469F-A165-70867728950E",
                                                "accountName": "adele", "upnSuffix": "contoso.example"}}
    trigger = parse_incident_trigger(_with_entities([account, richer]))
    assert len(trigger.accounts) == 1
    assert trigger.accounts[0].upn == "adele@contoso.example"


def test_logic_app_trigger_outputs_wrapper_and_json_text_are_accepted() -> None:
    wrapped = {"headers": {}, "body": _body()}
    assert parse_incident_trigger(wrapped).incident_number == 4711
    assert parse_incident_trigger(json.dumps(_body()).encode()).incident_number == 4711


def test_unusable_entities_are_skipped_with_a_reason() -> None:
    trigger = parse_incident_trigger(_with_entities([
        {"kind": "Ip", "properties": {"address": "203.0.113.7"}},
        {"kind": "Ip", "properties": {"address": "not-an-ip"}},
        {"kind": "Account", "properties": {"displayName": "Service account", "sid": "S-1-5-21-1"}},
        {"kind": "Account", "properties": {"aadUserId": "nope", "accountName": "x@contoso.example"}},
        "junk",
    ]))
    assert trigger.ips == ("203.0.113.7",)
    assert [account.upn for account in trigger.accounts] == ["x@contoso.example"]
    assert len(trigger.skipped) == 4
    assert any("not-an-ip" in line for line in trigger.skipped)


@pytest.mark.parametrize("body", [None, b"", "", "   ", {}, [], "not json", b"\xff\xfe"])
def test_no_body_is_400(body: object) -> None:
    with pytest.raises(TriggerError) as caught:
        parse_incident_trigger(body)
    assert caught.value.status == 400
    assert caught.value.incident_id is None
    assert isinstance(caught.value, DataError)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda b: b.pop("object"), "object: missing"),
    (lambda b: b.update(objectSchemaType="Alert"), "objectSchemaType"),
    (lambda b: b["object"].update(id="/subscriptions/x/resourceGroups/y"), "object.id"),
    (lambda b: b["object"]["properties"].update(severity="Critical"), "severity"),
    (lambda b: b["object"]["properties"].update(incidentNumber="4711"), "incidentNumber"),
    (lambda b: b["object"]["properties"].update(relatedEntities={"kind": "Ip"}), "relatedEntities"),
    (lambda b: b["object"].update(name="not-a-guid"), "object.name"),
])
def test_malformed_incident_is_400_with_a_field_path(mutate: Any, message: str) -> None:
    body = copy.deepcopy(_body())
    mutate(body)
    with pytest.raises(TriggerError, match=message) as caught:
        parse_incident_trigger(body)
    assert caught.value.status == 400
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("entities", [
    None,
    [],
    [{"kind": "Host", "properties": {"hostName": "wks-017"}}],
    [{"kind": "Account", "properties": {"displayName": "Someone"}}],
])
def test_incident_without_actionable_entities_is_422_and_names_the_incident(entities: Any) -> None:
    body = _body()
    if entities is None:
        del body["object"]["properties"]["relatedEntities"]
    else:
        body["object"]["properties"]["relatedEntities"] = entities
    with pytest.raises(TriggerError, match="4711") as caught:
        parse_incident_trigger(body)
    assert caught.value.status == 422
    assert caught.value.incident_id is not None
    assert caught.value.incident_id.endswith(INCIDENT_GUID)
