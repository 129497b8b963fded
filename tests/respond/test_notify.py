"""The notify step: the summary card lands in the simulator's webhook sink, through retries, and the URL's
signature never appears in an error or a log line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from shared.core.errors import ConfigurationError, UpstreamError
from shared.devkit.simulator import SimulatorServer, TenantState
from shared.respond.engine import StepOutcome
from shared.respond.steps.notify import Notifier
from shared.respond.summary import render_notification
from shared.respond.transport.retry import RetryPolicy
from tests.respond.test_summary import USER, make_case
from tests.support.graph import serving

SECRET = "sig=Zm9yZ2VkLXNpZ25hdHVyZQ"
RETRY = RetryPolicy(base_backoff=0.01, max_total_seconds=10)


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    with serving(TenantState(tenant_id="11111111-1111-1111-1111-111111111111"), limits={}) as running:
        yield running


def send(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        async with Notifier(url, retry=RETRY) as notifier:
            return await notifier.send(payload)

    return asyncio.run(main())


def payload() -> dict[str, Any]:
    outcomes = [StepOutcome(step="disable_user", target=USER, phase="succeeded", detail={"changed": True})]
    return render_notification(make_case(), outcomes, reason="automatic response: 1 step(s) done")


def test_the_card_lands_in_the_webhook_sink(server: SimulatorServer) -> None:
    card = payload()
    result = send(f"{server.url}/_sinks/webhook/teams-soc?api-version=1&{SECRET}", card)
    assert result == {"webhook": f"{server.url}/_sinks/webhook/teams-soc", "status": 200, "attempts": 1}
    assert server.state.webhooks == {"teams-soc": [card]}


def test_a_503_then_success_is_retried_once(server: SimulatorServer) -> None:
    server.faults.fail("/webhook/*", status=503, times=1)
    result = send(f"{server.url}/_sinks/webhook/teams-soc?{SECRET}", payload())
    assert result["attempts"] == 2
    assert len(server.state.webhooks["teams-soc"]) == 1


def test_a_refusal_is_not_retried_and_never_shows_the_signature(server: SimulatorServer,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    server.faults.fail("/webhook/*", status=400, times=None)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UpstreamError, match="answered 400") as raised:
        send(f"{server.url}/_sinks/webhook/teams-soc?{SECRET}", payload())
    # not the receiver's lines
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("shared.devkit.simulator")]
    assert any("sig=REDACTED" in line for line in ours)
    assert SECRET not in str(raised.value) and not any("Zm9yZ2Vk" in line for line in ours)
    assert server.stats.count(status=400) == 1
    assert server.state.webhooks == {}


def test_a_connection_failure_names_the_url_without_its_query() -> None:
    notifier = Notifier(f"http://127.0.0.1:9/hook?{SECRET}", retry=RetryPolicy(max_attempts=1))
    with pytest.raises(UpstreamError) as raised:
        asyncio.run(notifier.send({"text": "x"}))
    assert "http://127.0.0.1:9/hook" in str(raised.value) and "Zm9yZ2Vk" not in str(raised.value)
    assert "Zm9yZ2Vk" not in repr(notifier)


@pytest.mark.parametrize("url", ["http://hooks.example.com/x", "ftp://127.0.0.1/x", "example.com/x",
                                 "https://user:pw@hooks.example.com/x"])
def test_only_https_or_loopback_http_is_accepted(url: str) -> None:
    with pytest.raises(ConfigurationError, match="notify webhook"):
        Notifier(url)


def test_https_and_loopback_http_are_accepted() -> None:
    assert Notifier(f"https://prod-1.westeurope.logic.azure.com/workflows/1/triggers/manual?{SECRET}").safe_url \
        == "https://prod-1.westeurope.logic.azure.com/workflows/1/triggers/manual"
    assert Notifier("http://localhost:7071/hook").safe_url == "http://localhost:7071/hook"


def test_every_attempt_of_one_notification_carries_the_same_idempotency_key(server: SimulatorServer) -> None:
    # The first post reaches the receiver but its answer is lost; the retry must be recognisable as the same.
    server.faults.drop_after_apply("/webhook/teams-soc", method="POST", times=1)
    result = asyncio.run(_send_keyed(f"{server.url}/_sinks/webhook/teams-soc?{SECRET}", "act-0123456789abcdef"))
    assert result["attempts"] == 2 and result["idempotency_key"] == "act-0123456789abcdef"
    keys = [w.details.get("idempotency_key") for w in server.state.writes_of("webhook", "teams-soc")]
    assert keys == ["act-0123456789abcdef", "act-0123456789abcdef"]


async def _send_keyed(url: str, key: str) -> dict[str, Any]:
    async with Notifier(url, retry=RETRY) as notifier:
        return await notifier.send(payload(), idempotency_key=key)
