"""ARM as Azure runs it: RBAC per resource (403 AuthorizationFailed), throttling (429 + Retry-After), and a create
that may answer 200 as well as 201, each met by the real clients (ArmClient, the key-cache refresher)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from shared.core.errors import UpstreamError
from shared.devkit.simulator import SimulatorServer, TenantState
from shared.devkit.simulator.throttling import ARM_WRITE, ThrottleLimit
from shared.respond.steps.sentinel import SentinelIncidents
from shared.respond.transport.arm_client import ArmClient
from shared.respond.transport.retry import RetryPolicy
from tests.respond.test_key_cache import APP_A, APP_C, OTHER_SITE, SITE, STORM_KID, _config, _refresher, _run_one
from tests.respond.test_sentinel import WORKSPACE
from tests.respond.test_summary import make_case
from tests.support.graph import StaticCredential, serving

pytest_plugins = ("tests.support.azurite",)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with serving(TenantState(tenant_id="aaaaaaaa-0000-0000-0000-000000000002")) as server:
        yield server


def _restart(simulator: SimulatorServer, app: str) -> dict[str, object]:
    refresher = _refresher(simulator, _config({"app_id": APP_A, "mechanism": "restart", "target": SITE},
                                              {"app_id": APP_C, "mechanism": "restart", "target": OTHER_SITE}))
    (target,) = refresher.targets_for([app])
    return _run_one(refresher, target, kids=[STORM_KID])


def test_the_restart_role_works_only_on_the_sites_it_is_assigned_on(simulator: SimulatorServer) -> None:
    simulator.state.grants.assign("siteRestart", [SITE])  # as infra/app/site-restart.bicep assigns it
    assert _restart(simulator, APP_A)["status"] == 200
    with pytest.raises(UpstreamError, match="403") as refused:
        _restart(simulator, APP_C)
    assert refused.value.status == 403
    assert simulator.state.site_restarts == {"rg-apps/orders-api": 1}
    denied = [r for r in simulator.stats.records() if r.path.endswith("/billing/restart")]
    assert [r.status for r in denied] == [403]  # a refusal is not retried


def test_a_refused_restart_says_which_action_and_scope_in_arms_words(simulator: SimulatorServer) -> None:
    import httpx

    simulator.state.grants.assign("siteRestart", [SITE])
    answer = httpx.post(f"{simulator.url}{OTHER_SITE}/restart?api-version=2024-04-01",
                        headers={"Authorization": "Bearer t"})
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "AuthorizationFailed"
    assert "Microsoft.Web/sites/restart/action" in error["message"] and OTHER_SITE in error["message"]


def test_the_restart_role_does_not_reach_sentinel(simulator: SimulatorServer) -> None:
    simulator.state.grants.assign("sentinelResponder", [])

    async def create() -> object:
        async with ArmClient(StaticCredential(), endpoint=simulator.url, retry=RetryPolicy(max_total_seconds=5)) as arm:
            return await SentinelIncidents(arm, WORKSPACE).upsert_incident(make_case())

    with pytest.raises(UpstreamError) as refused:
        asyncio.run(create())
    assert refused.value.status == 403


def test_arm_throttling_is_waited_out_with_retry_after(simulator: SimulatorServer) -> None:
    simulator.throttle.set_limit(ARM_WRITE, ThrottleLimit(capacity=1, per_seconds=1.0))
    assert _restart(simulator, APP_A)["status"] == 200
    assert _restart(simulator, APP_A)["status"] == 200
    statuses = [(r.status, r.retry_after) for r in simulator.stats.records() if r.path.endswith("/restart")]
    assert statuses[0] == (200, None) and (429, "1") in statuses and statuses[-1] == (200, None)
    assert simulator.state.site_restarts == {"rg-apps/orders-api": 2}


def test_a_throttled_answer_is_arms_shape(simulator: SimulatorServer) -> None:
    import httpx

    simulator.throttle.set_limit(ARM_WRITE, ThrottleLimit(capacity=1, per_seconds=10.0))
    url = f"{simulator.url}{SITE}/restart?api-version=2024-04-01"
    assert httpx.post(url, headers={"Authorization": "Bearer t"}).status_code == 200
    throttled = httpx.post(url, headers={"Authorization": "Bearer t"})
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "SubscriptionRequestsThrottled"


def test_a_create_answered_200_is_still_a_create(simulator: SimulatorServer) -> None:
    simulator.state.arm_create_status = 200  # Incidents_CreateOrUpdate may answer 200 or 201

    async def create() -> dict[str, object]:
        async with ArmClient(StaticCredential(), endpoint=simulator.url, retry=RetryPolicy(max_total_seconds=5)) as arm:
            return await SentinelIncidents(arm, WORKSPACE).upsert_incident(make_case())

    result = asyncio.run(create())
    assert result["created"] is True and result["written"] is True
    assert [w.action for w in simulator.state.writes_of()] == ["putIncident"]
