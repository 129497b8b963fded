"""Graph enrichment with the real msgraph-sdk against the local tenant simulator.

Covers the cases the issue names: full enrichment, a 404 user, a throttled burst
whose Retry-After is honoured, a 503 then success, and Graph being unreachable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.cases.enrich.enricher import enrich_cases
from shared.cases.enrich.graph import PRIVILEGED_ROLE_TEMPLATES, GraphDirectory, build_graph_client
from shared.detect.findings import Finding
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.devkit.demo_data.generate import generate_demo_data
from shared.devkit.simulator import SimulatorServer, load_tenant_state
from shared.devkit.simulator.state import SimDirectoryRole
from shared.devkit.simulator.throttling import ThrottleLimit
from tests.support.graph import StaticCredential, serving

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MISSING_USER = "00000000-0000-4000-8000-000000000404"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graph-enrich")
    generate_demo_data(folder, users=30, days=2, seed=11, end=END)
    return folder


@pytest.fixture
def simulator(demo: Path) -> Iterator[SimulatorServer]:
    with serving(load_tenant_state(demo)) as server:
        yield server


def directory(server: SimulatorServer, **options: object) -> GraphDirectory:
    return GraphDirectory(build_graph_client(StaticCredential(), base_url=f"{server.url}/v1.0"), **options)  # type: ignore[arg-type]


def _users(demo: Path) -> list[dict[str, object]]:
    return list(json.loads((demo / "tenant.json").read_text())["users"])


def test_full_enrichment_matches_the_directory(simulator: SimulatorServer, demo: Path) -> None:
    users = _users(demo)
    graph = directory(simulator)
    facts = asyncio.run(graph.users([str(u["id"]) for u in users]))
    assert all(f.status == "ok" and f.error is None for f in facts.values())
    for user in users:
        got = facts[str(user["id"])]
        assert got.user_principal_name == user["userPrincipalName"]
        assert got.department == user["department"]
        expected_roles = {c.template.template_id for c in simulator.state.transitive_member_of(str(user["id"]))
                          if isinstance(c, SimDirectoryRole)}
        assert {r.role_template_id for r in got.roles} == expected_roles
        assert got.privileged is bool(expected_roles & set(PRIVILEGED_ROLE_TEMPLATES))
        risky = simulator.state.risky_user(str(user["id"]))
        assert got.risk_level == (risky.risk_level if risky else "none")
    assert any(f.privileged for f in facts.values())
    assert any(f.risk_level == "high" for f in facts.values())
    # 30 users x 2 requests fit in 3 batches, plus one riskyUsers page.
    assert graph.requests_sent == 4


def test_a_user_found_by_upn_gets_the_same_facts(simulator: SimulatorServer, demo: Path) -> None:
    user = _users(demo)[0]
    graph = directory(simulator)
    by_upn = asyncio.run(graph.users([str(user["userPrincipalName"])]))[str(user["userPrincipalName"])]
    assert by_upn.status == "ok" and by_upn.id == user["id"]


def test_a_missing_user_is_not_found_and_not_fatal(simulator: SimulatorServer, demo: Path) -> None:
    present = str(_users(demo)[1]["id"])
    facts = asyncio.run(directory(simulator).users([MISSING_USER, present]))
    assert facts[MISSING_USER].status == "not_found"
    assert "Request_ResourceNotFound" in (facts[MISSING_USER].error or "")
    assert facts[present].status == "ok"


def test_apps_by_app_id(simulator: SimulatorServer, demo: Path) -> None:
    apps = json.loads((demo / "apps.json").read_text())
    wanted = [apps[0]["appId"], "11111111-2222-4333-8444-555555555555"]
    facts = asyncio.run(directory(simulator).apps(wanted))
    assert facts[apps[0]["appId"].lower()].sign_in_audience == apps[0]["signInAudience"]
    assert facts["11111111-2222-4333-8444-555555555555"].status == "not_found"


def test_a_throttled_burst_waits_for_retry_after_and_completes(simulator: SimulatorServer, demo: Path) -> None:
    simulator.throttle.set_limit("identity", ThrottleLimit(capacity=12, per_seconds=2.0))
    ids = [str(u["id"]) for u in _users(demo)]
    graph = directory(simulator)
    facts = asyncio.run(graph.users(ids))
    assert all(f.status == "ok" for f in facts.values()), [f.error for f in facts.values() if f.error]
    throttled = [r for r in simulator.stats.records() if r.throttled and r.in_batch]
    assert throttled, "the burst was never throttled: the test would prove nothing"
    assert graph.inner_retries > 0
    # Every request retried after a 429 arrived no earlier than the Retry-After it was given.
    first_throttle = min(throttled, key=lambda r: r.received_at)
    wait = float(first_throttle.retry_after or 0)
    retried = [r for r in simulator.stats.records(path=first_throttle.path)
               if r.received_at > first_throttle.received_at]
    assert retried and retried[0].received_at - first_throttle.received_at >= wait - 0.05


def test_a_503_then_success(simulator: SimulatorServer, demo: Path) -> None:
    user = str(_users(demo)[2]["id"])
    simulator.faults.fail(f"/users/{user}", status=503, times=1, retry_after=1)
    facts = asyncio.run(directory(simulator).users([user]))
    assert facts[user].status == "ok"
    assert [r.status for r in simulator.stats.records(path=f"/users/{user}")] == [503, 200]


def test_a_user_that_keeps_failing_degrades_the_case(simulator: SimulatorServer, demo: Path) -> None:
    user = str(_users(demo)[3]["id"])
    simulator.faults.fail(f"/users/{user}", status=500, times=None)
    graph = directory(simulator, max_inner_retries=1)
    facts = asyncio.run(graph.users([user]))
    assert facts[user].status == "failed" and "500" in (facts[user].error or "")


def _finding(user: str) -> Finding:
    return Finding(rule_id="token-without-sign-in", rule_title="t", severity="Medium", first_seen=END, last_seen=END,
                   count=1, user_upn=None, user_object_id=user, app_id=None, ip_address=None, key_id=None,
                   token_id="t", issuer=None, tenant_id=None, source_table="MicrosoftGraphActivityLogs", evidence={})


def test_unreachable_graph_degrades_every_case_and_raises_nothing() -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again before use: nothing listens there
    graph = GraphDirectory(build_graph_client(StaticCredential(), base_url=f"http://127.0.0.1:{port}/v1.0",
                                              timeout=2.0), max_inner_retries=1)
    result = enrich_cases({"c1": [_finding(MISSING_USER)]}, directory=graph, source=None,
                          keys=KeyIntelligence(published=(), compromised=load_compromised_keys()), as_of=END)
    enrichment = result["c1"]
    assert enrichment.users[0].status == "failed"
    assert enrichment.degraded and enrichment.degraded[0].startswith(f"user {MISSING_USER}:")
