"""The refresh_app_key_cache mechanisms against real servers: ARM restarts, the apps' refresh endpoints and the
Event Grid topic on the simulator (through azure-core and azure-eventgrid), and the published untrusted-key
list on Azurite (through azure-storage-blob)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.storage.blob import BlobServiceClient

from shared.core.errors import ConfigurationError, UpstreamError
from shared.core.resource_names import EVENT_TYPE_UNTRUSTED_KEYS, UNTRUSTED_KEYS_BLOB
from shared.core.settings import load_settings
from shared.detect.keys.compromised import load_compromised_keys
from shared.devkit.simulator import SimulatorServer, TenantState
from shared.respond.steps.key_cache import (
    EVENT_SUBJECT,
    KeyCacheRefresher,
    RefreshTarget,
    parse_cache_refresh_apps,
)
from shared.respond.steps.untrusted_keys import UntrustedKeyPublisher, untrusted_key_list
from shared.respond.transport.arm_client import ARM_SCOPE
from shared.respond.transport.retry import RetryPolicy
from tests.support.graph import serving

pytest_plugins = ("tests.support.azurite",)

STORM_KID = "1LTMzakihiRla_8z2BEJVXeWMqo"
STORM_THUMBPRINT = "d4b4cccda9228624656bff33d8110955779632aa"
APP_A = "11111111-1111-1111-1111-111111111111"
APP_B = "22222222-2222-2222-2222-222222222222"
APP_C = "33333333-3333-3333-3333-333333333333"
SUB = "00000000-0000-0000-0000-0000000000aa"
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/orders-api"
OTHER_SITE = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/billing"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, max_total_seconds=10, base_backoff=0.01, max_backoff=0.05)


class ScopedCredential:
    """Entra stand-in whose tokens are JWT-shaped (unsigned) with ``aud`` set from the scope asked for, so the
    receiving end can see which audience the token was minted for."""

    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.extend(scopes)
        audience = scopes[0].removesuffix("/.default") if scopes else ""

        def part(value: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

        token = ".".join((part({"alg": "none"}), part({"aud": audience, "roles": ["Keys.Refresh"]}), "sig"))
        return AccessToken(token, int(time.time()) + 3600)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with serving(TenantState(tenant_id="aaaaaaaa-0000-0000-0000-000000000001")) as server:
        yield server


def _config(*entries: dict[str, Any]) -> str:
    return json.dumps(list(entries))


def _refresher(simulator: SimulatorServer, config: str, credential: ScopedCredential | None = None,
               **settings: str) -> KeyCacheRefresher:
    loaded = load_settings({"CACHE_REFRESH_APPS": config, "ARM_ENDPOINT": simulator.url,
                            "EVENT_GRID_TOPIC_ENDPOINT": f"{simulator.url}/api/events", **settings})
    return KeyCacheRefresher.from_settings(loaded, credential or ScopedCredential(), retry=FAST, timeout=10)


def _run_one(refresher: KeyCacheRefresher, target: RefreshTarget, *, kids: list[str],
             event_id: str = "evt-1") -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with refresher:
            return await refresher.refresh(target, untrusted_kids=kids, event_id=event_id, reason="case c-1")

    return asyncio.run(go())


# --- configuration ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ("{not json", r"CACHE_REFRESH_APPS is not valid JSON"),
    ('{"app_id": "*"}', r"must be a JSON list"),
    ('["restart"]', r"entry 0: must be a JSON object"),
    (_config({"mechanism": "event_grid"}), r"entry 0, field 'app_id': is required"),
    (_config({"app_id": "orders", "mechanism": "event_grid"}), r"entry 0, field 'app_id': 'orders' is neither"),
    (_config({"app_id": "*", "mechanism": "event_grid"}, {"app_id": APP_A, "mechanism": "reboot", "target": SITE}),
     r"entry 1, field 'mechanism': 'reboot' is not one of restart, endpoint, event_grid"),
    (_config({"app_id": APP_A, "mechanism": "restart"}), r"entry 0, field 'target': is required"),
    (_config({"app_id": APP_A, "mechanism": "restart", "target": "orders-api"}),
     r"entry 0, field 'target': 'orders-api' is not a site resource id"),
    (_config({"app_id": APP_A, "mechanism": "restart",
              "target": f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/serverfarms/plan"}),
     r"entry 0, field 'target'.*not a site resource id"),
    (_config({"app_id": APP_A, "mechanism": "endpoint", "target": "http://orders.example/refresh"}),
     r"entry 0, field 'target': 'http://orders.example/refresh' must be an https URL"),
    (_config({"app_id": APP_A, "mechanism": "endpoint", "target": "https://user:pw@orders.example/refresh"}),
     r"entry 0, field 'target': the URL must not carry credentials"),
    (_config({"app_id": "*", "mechanism": "endpoint", "target": "https://orders.example/refresh"}),
     r"entry 0, field 'scope': is required when app_id is '\*'"),
    (_config({"app_id": APP_A, "mechanism": "event_grid", "target": "https://topic.example/api/events"}),
     r"entry 0, field 'target': must be omitted for event_grid"),
    (_config({"app_id": APP_A, "mechanism": "restart", "target": SITE, "scope": "api://x/.default"}),
     r"entry 0, field 'scope': applies only to the endpoint mechanism"),
    (_config({"app_id": APP_A, "mechanism": "event_grid", "topic": "t"}), r"entry 0, field 'topic': is not a known"),
    (_config({"app_id": APP_A, "mechanism": "endpoint", "target": "https://shared.example/refresh"},
             {"app_id": APP_B, "mechanism": "endpoint", "target": "https://shared.example/refresh"}),
     r"entry 1, field 'scope'.*differs from entry 0's"),
])
def test_bad_cache_refresh_apps_names_the_entry_and_field(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as caught:
        parse_cache_refresh_apps(text)
    assert "\n" not in str(caught.value)


def test_empty_setting_means_no_targets() -> None:
    assert parse_cache_refresh_apps("") == ()
    refresher = KeyCacheRefresher((), credential=ScopedCredential())
    assert refresher.targets_for(None) == [] and refresher.targets_for([APP_A]) == []


def test_event_grid_without_a_topic_is_a_configuration_error() -> None:
    settings = load_settings({"CACHE_REFRESH_APPS": _config({"app_id": "*", "mechanism": "event_grid"})})
    with pytest.raises(ConfigurationError, match=r"entry 0, field 'mechanism': event_grid needs "
                                                 r"EVENT_GRID_TOPIC_ENDPOINT"):
        KeyCacheRefresher.from_settings(settings, ScopedCredential())


# --- target selection -------------------------------------------------------------------------------------------
def _selection_refresher() -> KeyCacheRefresher:
    return KeyCacheRefresher(parse_cache_refresh_apps(_config(
        {"app_id": APP_A, "mechanism": "restart", "target": SITE},
        {"app_id": APP_B.upper(), "mechanism": "restart", "target": SITE.lower()},
        {"app_id": APP_B, "mechanism": "endpoint", "target": "https://billing.example/keys/refresh"},
        {"app_id": APP_C, "mechanism": "restart", "target": OTHER_SITE},
        {"app_id": "*", "mechanism": "event_grid"},
    )), credential=ScopedCredential(), event_grid_endpoint="https://topic.example/api/events")


def test_apps_sharing_a_site_get_one_restart() -> None:
    targets = _selection_refresher().targets_for([APP_A, APP_B])
    assert [t.key for t in targets] == [f"restart:{SITE.lower()}", "endpoint:https://billing.example/keys/refresh",
                                        "event_grid"]
    assert targets[0].app_ids == (APP_A, APP_B)
    assert targets[1].scope == f"api://{APP_B}/.default"
    assert targets[2].app_ids == (APP_A, APP_B)


def test_wildcard_entries_apply_to_any_app_and_none_means_every_registered_app() -> None:
    refresher = _selection_refresher()
    assert [t.key for t in refresher.targets_for(["99999999-9999-9999-9999-999999999999"])] == ["event_grid"]
    assert [t.key for t in refresher.targets_for(None)] == [
        f"restart:{SITE.lower()}", "endpoint:https://billing.example/keys/refresh", f"restart:{OTHER_SITE.lower()}",
        "event_grid"]
    assert refresher.targets_for([]) == []


def test_apps_without_an_entry_are_reported() -> None:
    refresher = KeyCacheRefresher(parse_cache_refresh_apps(_config(
        {"app_id": APP_A, "mechanism": "restart", "target": SITE})), credential=ScopedCredential())
    assert refresher.unconfigured([APP_A, APP_C, APP_C.upper()]) == [APP_C]
    assert refresher.targets_for([APP_C]) == []


# --- mechanisms against the simulator ----------------------------------------------------------------------------
def test_restart_posts_to_arm_and_the_site_restarts(simulator: SimulatorServer) -> None:
    credential = ScopedCredential()
    refresher = _refresher(simulator, _config({"app_id": APP_A, "mechanism": "restart", "target": SITE}), credential)
    (target,) = refresher.targets_for([APP_A])
    detail = _run_one(refresher, target, kids=[STORM_KID])
    assert simulator.state.site_restarts == {"rg-apps/orders-api": 1}
    assert detail["status"] == 200 and detail["site"] == SITE
    assert credential.scopes == [ARM_SCOPE]
    json.dumps(detail)


def test_restart_is_retried_after_a_503(simulator: SimulatorServer) -> None:
    simulator.faults.fail("*/sites/orders-api/restart", status=503, times=1, retry_after=0)
    refresher = _refresher(simulator, _config({"app_id": APP_A, "mechanism": "restart", "target": SITE}))
    _run_one(refresher, refresher.targets_for([APP_A])[0], kids=[STORM_KID])
    assert simulator.state.site_restarts == {"rg-apps/orders-api": 1}
    assert [r.status for r in simulator.stats.records() if r.path.endswith("/restart")] == [503, 200]


def test_endpoint_gets_the_kids_and_a_bearer_token_for_the_apps_audience(simulator: SimulatorServer) -> None:
    url = f"{simulator.url}/_sinks/refresh/orders"
    refresher = _refresher(simulator, _config({"app_id": APP_A, "mechanism": "endpoint", "target": url}))
    (target,) = refresher.targets_for([APP_A])
    assert target.key == f"endpoint:{url}"
    detail = _run_one(refresher, target, kids=[STORM_KID, "kid-2", STORM_KID], event_id="evt-42")
    (call,) = simulator.state.refresh_calls["orders"]
    assert call["audience"] == f"api://{APP_A}"
    body = call["body"]
    assert isinstance(body, dict)
    assert body["event_id"] == "evt-42" and body["untrusted_kids"] == sorted([STORM_KID, "kid-2"])
    assert body["event_type"] == EVENT_TYPE_UNTRUSTED_KEYS and body["reason"] == "case c-1"
    assert detail["attempts"] == 1 and detail["status"] == 200


def test_endpoint_503_then_success_honours_retry_after(simulator: SimulatorServer) -> None:
    simulator.faults.fail("/refresh/*", status=503, times=2, retry_after=0)
    url = f"{simulator.url}/_sinks/refresh/orders"
    refresher = _refresher(simulator, _config({"app_id": APP_A, "mechanism": "endpoint", "target": url,
                                               "scope": "api://orders/.default"}))
    detail = _run_one(refresher, refresher.targets_for([APP_A])[0], kids=[STORM_KID])
    assert detail["attempts"] == 3
    assert [c["audience"] for c in simulator.state.refresh_calls["orders"]] == ["api://orders"]


def test_endpoint_refusal_is_not_retried(simulator: SimulatorServer) -> None:
    simulator.faults.fail("/refresh/*", status=403, times=None)
    url = f"{simulator.url}/_sinks/refresh/orders"
    refresher = _refresher(simulator, _config({"app_id": APP_A, "mechanism": "endpoint", "target": url}))
    with pytest.raises(UpstreamError, match="answered 403") as caught:
        _run_one(refresher, refresher.targets_for([APP_A])[0], kids=[STORM_KID])
    assert caught.value.status == 403
    assert len([r for r in simulator.stats.records() if r.path.startswith("/refresh/")]) == 1


def test_refresh_sink_requires_a_bearer_token(simulator: SimulatorServer) -> None:
    request = urllib.request.Request(f"{simulator.url}/_sinks/refresh/orders", data=b"{}", method="POST",
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 401
    assert simulator.state.refresh_calls == {}


def test_event_grid_event_lands_on_the_topic_with_our_event_id(simulator: SimulatorServer) -> None:
    credential = ScopedCredential()
    refresher = _refresher(simulator, _config({"app_id": "*", "mechanism": "event_grid"}), credential)
    (target,) = refresher.targets_for([APP_A])
    detail = _run_one(refresher, target, kids=[STORM_KID], event_id="case-c1-refresh-0001")
    (event,) = simulator.state.events
    assert event["id"] == "case-c1-refresh-0001"
    assert event["eventType"] == EVENT_TYPE_UNTRUSTED_KEYS and event["subject"] == EVENT_SUBJECT
    assert event["dataVersion"] == "1.0"
    data = event["data"]
    assert isinstance(data, dict)
    assert data["untrusted_kids"] == [STORM_KID] and data["reason"] == "case c-1" and data["published_at"]
    assert credential.scopes == ["https://eventgrid.azure.net/.default"]
    assert detail["event_id"] == "case-c1-refresh-0001" and detail["attempts"] == 1


def test_event_grid_503_then_success_sends_one_event(simulator: SimulatorServer) -> None:
    simulator.faults.fail("/events", status=503, times=1, retry_after=0)
    refresher = _refresher(simulator, _config({"app_id": "*", "mechanism": "event_grid"}))
    detail = _run_one(refresher, refresher.targets_for(None)[0], kids=[STORM_KID])
    assert detail["attempts"] == 2
    assert [e["id"] for e in simulator.state.events] == ["evt-1"]


def test_event_grid_over_plain_http_off_loopback_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="must be https"):
        KeyCacheRefresher(parse_cache_refresh_apps(_config({"app_id": "*", "mechanism": "event_grid"})),
                          credential=ScopedCredential(), event_grid_endpoint="http://topic.example/api/events")


# --- the published untrusted-key list -----------------------------------------------------------------------------
@pytest.fixture
def container(storage_environment: dict[str, str]) -> Iterator[str]:
    name = f"signing-keys-{uuid.uuid4().hex[:12]}"
    yield name
    with BlobServiceClient.from_connection_string(storage_environment["AzureWebJobsStorage"]) as service:
        service.delete_container(name)


def _publish(environment: dict[str, str], container: str, kids: list[str], **settings: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        publisher = UntrustedKeyPublisher.from_settings(load_settings({**environment, **settings}),
                                                        container=container, retry=FAST, timeout=10)
        publisher._now = lambda: NOW  # a fixed clock makes the written document comparable
        async with publisher:
            return (await publisher.publish(kids)).detail()

    return asyncio.run(go())


def _read_back(environment: dict[str, str], container: str) -> tuple[dict[str, Any], Any]:
    with BlobServiceClient.from_connection_string(environment["AzureWebJobsStorage"]) as service:
        blob = service.get_blob_client(container, UNTRUSTED_KEYS_BLOB)
        downloaded = blob.download_blob()
        return json.loads(downloaded.readall()), downloaded.properties


def test_untrusted_key_list_is_written_to_blob_storage(storage_environment: dict[str, str], container: str) -> None:
    extra = "a" * 40
    detail = _publish(storage_environment, container, ["observed-kid-1"], EXTRA_COMPROMISED_KEYS=extra)
    document, properties = _read_back(storage_environment, container)
    assert detail["written"] is True and detail["etag"] == properties.etag
    assert STORM_KID in document["kids"] and STORM_THUMBPRINT in document["thumbprints"]
    assert extra in document["thumbprints"] and "observed-kid-1" in document["kids"]
    assert document["observed_kids"] == ["observed-kid-1"]
    assert document["version"] == 1 and document["generated_at"] == "2026-11-28T12:00:00Z"
    assert properties.metadata["sha256"] == document["sha256"] == detail["sha256"]
    assert properties.content_settings.content_type == "application/json"
    expected = untrusted_key_list(load_compromised_keys([extra]), ["observed-kid-1"])
    assert document["kids"] == list(expected.kids)


def test_an_unchanged_list_is_not_rewritten(storage_environment: dict[str, str], container: str) -> None:
    first = _publish(storage_environment, container, [STORM_KID])
    second = _publish(storage_environment, container, [STORM_KID])
    _, properties = _read_back(storage_environment, container)
    assert first["written"] is True and second["written"] is False
    assert second["etag"] == first["etag"] == properties.etag


def test_flagged_kids_accumulate_across_writes(storage_environment: dict[str, str], container: str) -> None:
    _publish(storage_environment, container, ["case-1-kid"])
    again = _publish(storage_environment, container, ["case-2-kid"])
    document, _ = _read_back(storage_environment, container)
    assert again["written"] is True
    assert document["observed_kids"] == ["case-1-kid", "case-2-kid"]
    assert _publish(storage_environment, container, [])["written"] is False


def test_blob_storage_needs_a_connection_string_or_an_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="has no storage"):
        UntrustedKeyPublisher.from_settings(load_settings({}))
    with pytest.raises(ConfigurationError, match="needs a credential"):
        UntrustedKeyPublisher.from_settings(load_settings(
            {"AzureWebJobsStorage__blobServiceUri": "https://acct.blob.core.windows.net"}))
