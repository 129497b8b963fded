"""confirmCompromised with the real msgraph-sdk: object ids only, and one bad principal never fails the other 59."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from shared.cases.enrich.graph import build_graph_client
from shared.core.errors import TokenwardenError, UpstreamError
from shared.devkit.simulator import SimulatorServer, SimUser, TenantState
from shared.respond.steps.confirm_batcher import ConfirmBatcher, ConfirmResult
from shared.respond.transport.graph_actions import GraphActions
from shared.respond.transport.ratelimit import limiters
from shared.respond.transport.retry import RetryPolicy
from tests.support.graph import StaticCredential, serving

UNKNOWN_ID = "00000000-0000-4000-8000-000000000404"


@pytest.fixture
def state() -> TenantState:
    tenant = TenantState(tenant_id="7f1c4a52-3e0b-4c8e-9a1d-2b5e6f7a8c9d")
    for index in range(60):
        tenant.add_user(SimUser(id=tenant.stable_id("user", str(index)),
                                user_principal_name=f"user{index}@contoso.example", display_name=f"User {index}"))
    return tenant


@pytest.fixture
def simulator(state: TenantState) -> Iterator[SimulatorServer]:
    with serving(state, limits={}) as server:
        yield server


def _batcher(server: SimulatorServer) -> ConfirmBatcher:
    client = build_graph_client(StaticCredential(), base_url=server.graph_url, sdk_retries=False)
    return ConfirmBatcher(GraphActions(client, limiters=limiters(), retry=RetryPolicy(max_total_seconds=10)))


async def _confirm_all(batcher: ConfirmBatcher, keys: list[str]) -> list[ConfirmResult | BaseException]:
    return list(await asyncio.gather(*(batcher.confirm(key) for key in keys), return_exceptions=True))


def test_the_simulator_refuses_a_upn_as_graph_takes_object_ids_only(simulator: SimulatorServer) -> None:
    import httpx

    answer = httpx.post(f"{simulator.graph_url}/identityProtection/riskyUsers/confirmCompromised",
                        headers={"Authorization": "Bearer t"}, json={"userIds": ["user1@contoso.example"]})
    assert answer.status_code == 400


def test_upns_are_resolved_and_one_unknown_principal_fails_alone(simulator: SimulatorServer,
                                                                 state: TenantState) -> None:
    users = sorted(state.users(), key=lambda user: user.id)
    keys = [user.id for user in users[:57]] + [u.user_principal_name for u in users[57:59]] + [UNKNOWN_ID]
    batcher = _batcher(simulator)
    results = asyncio.run(_confirm_all(batcher, keys))

    failures = {key: result for key, result in zip(keys, results, strict=True) if isinstance(result, BaseException)}
    assert set(failures) == {UNKNOWN_ID}
    assert isinstance(failures[UNKNOWN_ID], UpstreamError) and failures[UNKNOWN_ID].status == 404
    confirmed = {w.target for w in state.writes_of("confirmCompromised")}
    assert confirmed == {user.id for user in users[:59]}  # the two UPNs as their object ids
    assert len(state.writes_of("confirmCompromised")) == 59  # each confirmed exactly once


def test_a_upn_graph_does_not_know_fails_without_a_confirm_call(simulator: SimulatorServer,
                                                                state: TenantState) -> None:
    user = state.users()[0]
    results = asyncio.run(_confirm_all(_batcher(simulator), [user.id, "nobody@contoso.example"]))
    assert isinstance(results[0], ConfirmResult)
    assert isinstance(results[1], TokenwardenError) and "does not exist" in str(results[1])
    calls = [r for r in simulator.stats.records() if r.path.endswith("/confirmCompromised")]
    assert [r.status for r in calls] == [204]


def test_a_refusal_for_everyone_is_not_split(simulator: SimulatorServer, state: TenantState) -> None:
    state.grants.identity_protection_licensed = False
    users = [user.id for user in state.users()[:10]]
    results = asyncio.run(_confirm_all(_batcher(simulator), users))
    assert all(isinstance(r, UpstreamError) and r.status == 403 for r in results)
    calls = [r for r in simulator.stats.records() if r.path.endswith("/confirmCompromised")]
    assert len(calls) == 1  # a licence problem is no one principal's fault: one call, no bisection


def test_results_report_the_call_each_user_rode_in(simulator: SimulatorServer, state: TenantState) -> None:
    users = [user.id for user in state.users()[:5]]
    results = asyncio.run(_confirm_all(_batcher(simulator), users))
    assert all(isinstance(r, ConfirmResult) and r.batch_size == 5 and r.call == 1 for r in results)
