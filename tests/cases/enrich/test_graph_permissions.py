"""What the deployment's Graph grants (infra/permissions.json) let enrichment see, against the simulator.

The simulator grants exactly the app roles of the file the Bicep grants from, so
these tests fail when a grant the code depends on is dropped there, and Graph's
answers without it (hidden directory roles, 403s, an unlicensed tenant) are
each shown to degrade the case, never to pass for "not privileged".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from shared.cases.enrich.enricher import enrich_cases, triage_input
from shared.cases.enrich.graph import GraphDirectory, build_graph_client
from shared.detect.findings import Finding
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.devkit.demo_data.generate import generate_demo_data
from shared.devkit.simulator import SimGroup, SimulatorServer, TenantState, load_tenant_state
from shared.devkit.simulator.permissions import DEPLOYMENT_PERMISSIONS_FILE
from shared.devkit.simulator.roles import GLOBAL_ADMINISTRATOR, REPORTS_READER
from tests.support.graph import StaticCredential, serving

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
AUTH = {"Authorization": "Bearer simulated"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graph-permissions")
    generate_demo_data(folder, users=30, days=2, seed=11, end=END)
    return folder


@pytest.fixture
def state(demo: Path) -> TenantState:
    return load_tenant_state(demo)


@pytest.fixture
def simulator(state: TenantState) -> Iterator[SimulatorServer]:
    with serving(state, limits={}) as server:
        yield server


def _directory(server: SimulatorServer) -> GraphDirectory:
    return GraphDirectory(build_graph_client(StaticCredential(), base_url=server.graph_url))


def _admin(state: TenantState) -> str:
    return next(user.id for user in state.users() if user.privileged)


def test_the_simulator_grants_exactly_the_deployment_file() -> None:
    granted = TenantState(tenant_id="t").grants.graph_app_roles
    listed = {role["value"] for role in json.loads(DEPLOYMENT_PERMISSIONS_FILE.read_text())["graphAppRoles"]}
    assert granted == listed
    assert "RoleManagement.Read.Directory" in granted


def test_with_the_deployed_grants_an_administrator_is_privileged(simulator: SimulatorServer,
                                                                 state: TenantState) -> None:
    facts = asyncio.run(_directory(simulator).users([_admin(state)]))[_admin(state)]
    assert facts.privileged is True
    assert GLOBAL_ADMINISTRATOR.template_id in {role.role_template_id for role in facts.roles}


def test_without_a_role_reading_grant_roles_are_hidden_and_privilege_is_unknown(simulator: SimulatorServer,
                                                                                state: TenantState) -> None:
    state.grants.graph_app_roles.discard("RoleManagement.Read.Directory")
    admin = _admin(state)
    raw = httpx.get(f"{simulator.graph_url}/users/{admin}/transitiveMemberOf", headers=AUTH).json()["value"]
    roles = [item for item in raw if item["@odata.type"] == "#microsoft.graph.directoryRole"]
    assert roles and all(set(item) == {"@odata.type", "id"} for item in roles)
    facts = asyncio.run(_directory(simulator).users([admin]))[admin]
    assert facts.privileged is None  # unknown, never False
    assert facts.error is not None and "RoleManagement.Read.Directory" in facts.error


def test_hidden_roles_degrade_the_case_and_triage_sees_unknown(simulator: SimulatorServer,
                                                               state: TenantState) -> None:
    state.grants.graph_app_roles.discard("RoleManagement.Read.Directory")
    admin = _admin(state)
    finding = Finding(rule_id="token-without-sign-in", rule_title="t", severity="Medium", first_seen=END, last_seen=END,
                      count=1, user_upn=None, user_object_id=admin, app_id=None, ip_address=None, key_id=None,
                      token_id="t", issuer=None, tenant_id=None, source_table="MicrosoftGraphActivityLogs", evidence={})
    keys = KeyIntelligence(published=(), compromised=load_compromised_keys())
    enrichment = enrich_cases({"case": [finding]}, directory=_directory(simulator), source=None, keys=keys,
                              as_of=END)["case"]
    assert any("RoleManagement.Read.Directory" in line for line in enrichment.degraded)
    assert enrichment.to_json()["users"][0]["privileged"] is None
    assert triage_input([finding], enrichment).privileged_user is None


def test_a_non_role_holder_stays_known_not_privileged_without_the_grant(simulator: SimulatorServer,
                                                                        state: TenantState) -> None:
    state.grants.graph_app_roles.discard("RoleManagement.Read.Directory")
    plain = next(u.id for u in state.users()
                 if all(isinstance(container, SimGroup) for container in state.transitive_member_of(u.id)))
    facts = asyncio.run(_directory(simulator).users([plain]))[plain]
    assert facts.privileged is False and facts.error is None


def test_memberships_are_read_to_the_last_page(simulator: SimulatorServer, state: TenantState) -> None:
    """A privileged role behind 1,200 groups is on the second 999-object page; it must still be seen."""
    user = next(u for u in state.users() if not u.privileged)
    for index in range(1200):
        group = state.add_group(SimGroup(id=state.stable_id("group", f"bulk-{index}"), display_name=f"Bulk {index}",
                                         mail_nickname=f"bulk{index}"))
        state.add_member(group.id, user.id)
    state.assign_role(user.id, GLOBAL_ADMINISTRATOR)
    facts = asyncio.run(_directory(simulator).users([user.id]))[user.id]
    assert facts.privileged is True and facts.roles_complete
    tops = [r.path for r in simulator.stats.records() if r.path.endswith("/transitiveMemberOf")]
    assert len(tops) == 2  # two pages, not one page of 100 and a guess


def test_a_membership_page_that_fails_leaves_privilege_unknown(simulator: SimulatorServer,
                                                               state: TenantState) -> None:
    user = next(u for u in state.users() if not u.privileged)
    simulator.faults.fail(f"/users/{user.id}/transitiveMemberOf", status=403, code="Authorization_RequestDenied",
                          times=10)
    facts = asyncio.run(_directory(simulator).users([user.id]))[user.id]
    assert facts.status == "ok" and facts.privileged is None


def test_a_graph_route_without_its_app_role_is_refused_in_graphs_shape(simulator: SimulatorServer,
                                                                       state: TenantState) -> None:
    state.grants.graph_app_roles.discard("Application.Read.All")
    answer = httpx.get(f"{simulator.graph_url}/servicePrincipals", headers=AUTH)
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "Authorization_RequestDenied"
    assert error["message"] == "Insufficient privileges to complete the operation."
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])


def test_disabling_an_account_needs_both_documented_app_roles(simulator: SimulatorServer,
                                                              state: TenantState) -> None:
    user = next(u for u in state.users() if not u.privileged)
    state.grants.graph_app_roles.discard("User.Read.All")
    refused = httpx.patch(f"{simulator.graph_url}/users/{user.id}", headers=AUTH, json={"accountEnabled": False})
    assert refused.status_code == 403 and user.account_enabled is True
    state.grants.graph_app_roles.add("User.Read.All")
    assert httpx.patch(f"{simulator.graph_url}/users/{user.id}", headers=AUTH,
                       json={"accountEnabled": False}).status_code == 204


def test_graph_refuses_to_disable_a_role_holder(simulator: SimulatorServer, state: TenantState) -> None:
    user = next(u for u in state.users() if not u.privileged)
    state.assign_role(user.id, REPORTS_READER)
    answer = httpx.patch(f"{simulator.graph_url}/users/{user.id}", headers=AUTH, json={"accountEnabled": False})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "Authorization_RequestDenied"
    assert user.account_enabled is True


def test_an_unlicensed_tenant_answers_identity_protection_with_403(simulator: SimulatorServer,
                                                                   state: TenantState) -> None:
    state.grants.identity_protection_licensed = False
    answer = httpx.get(f"{simulator.graph_url}/identityProtection/riskyUsers", headers=AUTH)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "Forbidden"
    facts = asyncio.run(_directory(simulator).users([_admin(state)]))[_admin(state)]
    assert facts.risk_level is None and facts.error is not None and "403" in facts.error
    assert facts.privileged is True  # the directory itself was still read
