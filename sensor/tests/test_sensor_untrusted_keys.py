"""Untrusted keys: the list Tokenwarden's own publisher writes (Azurite) is followed with conditional GETs, and a
token signed by a listed key is refused from the next poll on; Event Grid's two handshakes and the event route."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from sensor_support import APP_ID, token
from shared.detect.keys.compromised import load_compromised_keys
from shared.respond.steps.untrusted_keys import UntrustedKeyPublisher
from tokenwarden_sensor import Sensor, SensorConfig, UntrustedKeySource
from tokenwarden_sensor.webhook import UntrustedKeyWebhook, header_secret
from tools.azurite import AzuriteEndpoints

pytest_plugins = ("tests.support.azurite",)

FORGED_KID = "t3stC0mpr0m1sedKeyForTheSensor"


def _publish(connection_string: str, container: str, kids: list[str]) -> None:
    async def run() -> None:
        from azure.storage.blob.aio import BlobServiceClient

        service = BlobServiceClient.from_connection_string(connection_string)
        async with UntrustedKeyPublisher(service, compromised=load_compromised_keys(), container=container,
                                         create_container=True) as publisher:
            await publisher.publish(kids)

    asyncio.run(run())


def test_a_key_published_as_untrusted_is_refused_after_the_next_poll(azurite: AzuriteEndpoints) -> None:
    container = "signing-keys-sensor-1"
    refreshed: list[list[str]] = []
    sensor = Sensor(SensorConfig(app_id=APP_ID, untrusted_keys=UntrustedKeySource(
        connection_string=azurite.connection_string, container=container, interval=3600)),
        on_key_refresh=refreshed.append)
    try:
        forged = token(kid=FORGED_KID)
        assert sensor.poll_untrusted_keys() is False  # nothing published yet
        assert sensor.observe(forged, "Accepted").refuse is False
        _publish(azurite.connection_string, container, [FORGED_KID])
        assert sensor.poll_untrusted_keys() is True
        verdict = sensor.observe(forged, "Accepted")
        assert verdict.refuse and FORGED_KID in (verdict.reason or "")
        assert sensor.observe(token(kid="1LTMzakihiRla_8z2BEJVXeWMqo"), "Accepted").refuse  # shipped keys too
        assert sensor.observe(token(), "Accepted").refuse is False
        assert refreshed and FORGED_KID in refreshed[0]
        # Unchanged list: a 304, no change, no second callback.
        assert sensor.poll_untrusted_keys() is False
        assert len(refreshed) == 1
        counters = sensor.counters()
        assert (counters.key_list_polls, counters.key_list_changes, counters.key_list_errors) == (3, 1, 0)
    finally:
        sensor.close()


def test_an_unreachable_blob_is_counted_and_nothing_is_refused() -> None:
    sensor = Sensor(SensorConfig(app_id=APP_ID, untrusted_keys=UntrustedKeySource(
        connection_string="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
                          "BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;")))
    try:
        assert sensor.poll_untrusted_keys() is False
        assert sensor.observe(token(), "Accepted").refuse is False
        assert sensor.counters().key_list_errors == 1
    finally:
        sensor.close()


def _webhook(sensor: Sensor) -> UntrustedKeyWebhook:
    return sensor.webhook(authorize=header_secret("X-Tokenwarden-Secret", "s3cret"),
                          subscriptions=["orders-untrusted-keys"])


def _untrusted_event(kids: list[str]) -> dict[str, Any]:
    return {"id": "evt-1", "subject": "/tokenwarden/signing-keys", "eventType": "Tokenwarden.SigningKeys.Untrusted",
            "eventTime": "2026-12-03T09:00:00Z", "dataVersion": "1.0", "metadataVersion": "1",
            "data": {"untrusted_kids": kids, "reason": "case x", "published_at": "2026-12-03T09:00:00Z"}}


def test_the_event_grid_validation_handshake_echoes_the_code() -> None:
    webhook = _webhook(Sensor(SensorConfig(app_id=APP_ID)))
    body = json.dumps([{"id": "2d1781af", "topic": "/subscriptions/x", "subject": "", "eventType":
                        "Microsoft.EventGrid.SubscriptionValidationEvent", "eventTime": "2022-10-28T04:23:35Z",
                        "metadataVersion": "1", "dataVersion": "1",
                        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}}]).encode()
    headers = {"aeg-event-type": "SubscriptionValidation", "aeg-subscription-name": "ORDERS-UNTRUSTED-KEYS"}
    answer = webhook.handle("POST", headers, body)
    assert (answer.status, json.loads(answer.body)) == (200, {"validationResponse":
                                                              "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"})
    stranger = webhook.handle("POST", {**headers, "aeg-subscription-name": "someone-elses"}, body)
    assert stranger.status == 403


def test_the_cloudevents_abuse_protection_handshake() -> None:
    webhook = _webhook(Sensor(SensorConfig(app_id=APP_ID)))
    answer = webhook.handle("OPTIONS", {"WebHook-Request-Origin": "eventgrid.azure.net"}, b"")
    assert answer.status == 200
    assert answer.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"
    assert answer.headers["WebHook-Allowed-Rate"] == "*"
    refused = webhook.handle("OPTIONS", {"WebHook-Request-Origin": "evil.example"}, b"")
    assert "WebHook-Allowed-Origin" not in refused.headers
    assert webhook.handle("OPTIONS", {}, b"").status == 405


@pytest.mark.parametrize("cloudevents", [False, True])
def test_an_untrusted_key_event_refuses_the_key_at_once(cloudevents: bool) -> None:
    refreshed: list[list[str]] = []
    sensor = Sensor(SensorConfig(app_id=APP_ID), on_key_refresh=refreshed.append)
    webhook = _webhook(sensor)
    event = _untrusted_event([FORGED_KID])
    if cloudevents:
        event = {"specversion": "1.0", "id": "evt-1", "source": "/tokenwarden", "type": event["eventType"],
                 "time": event["eventTime"], "data": event["data"]}
    body = json.dumps(event if cloudevents else [event]).encode()
    assert webhook.handle("POST", {}, body).status == 401  # no delivery secret: not Tokenwarden's topic
    assert sensor.observe(token(kid=FORGED_KID), "Accepted").refuse is False
    answer = webhook.handle("POST", {"x-tokenwarden-secret": "s3cret"}, body)
    assert answer.status == 200 and json.loads(answer.body)["untrusted_kids"] == 1
    assert sensor.observe(token(kid=FORGED_KID), "Accepted").refuse  # the same token: its cached verdict is stale
    assert refreshed == [[FORGED_KID]]


def test_malformed_deliveries_are_4xx() -> None:
    webhook = _webhook(Sensor(SensorConfig(app_id=APP_ID)))
    secret = {"x-tokenwarden-secret": "s3cret"}
    assert webhook.handle("POST", secret, b"not json").status == 400
    assert webhook.handle("POST", secret, b"[]").status == 400
    assert webhook.handle("GET", secret, b"").status == 405
    assert webhook.handle("POST", secret, b"x" * (1024 * 1024 + 1)).status == 413
