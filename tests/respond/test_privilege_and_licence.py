"""The responder where Graph says less than everything: unknown privilege, role holders, no Identity Protection licence.

Each degradation is handled (nothing unsafe is done), audited (an action record says
why) and shown on the case (its enrichment or its plan), against the simulator
granting what infra/permissions.json grants, less what each test takes away.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from shared.cases.enrich.graph import GraphDirectory, build_graph_client
from shared.cases.policy.loader import load_policy
from shared.cases.triage import triage_cases
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.ledger.case_store import CaseStore
from shared.respond.actions import ActionStore
from tests.support.graph import StaticCredential
from tests.support.response_world import NOW, World

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph",
                  "tests.support.response_world")


def _retriage(world: World, case_id: str) -> None:
    directory = GraphDirectory(build_graph_client(StaticCredential(), base_url=world.simulator.graph_url))
    triage_cases(world.ledger, [case_id], directory=directory, source=None,
                 keys=KeyIntelligence(published=(), compromised=load_compromised_keys()), policy=load_policy(),
                 now=NOW)


def _phases(world: World, case_id: str) -> dict[str, str]:
    return {r.step: r.phase for r in ActionStore(world.ledger.actions).for_case(case_id)}


def test_unknown_privilege_holds_unattended_containment_for_an_approver(world: World) -> None:
    case = world.case("compromised-signing-key", privileged=True)
    world.simulator.state.grants.graph_app_roles.discard("RoleManagement.Read.Directory")
    _retriage(world, case.case_id)
    stored = CaseStore(world.ledger.cases).get(case.case_id)
    assert stored is not None and stored.enrichment is not None
    assert stored.enrichment["users"][0]["privileged"] is None
    assert any("RoleManagement.Read.Directory" in line for line in stored.enrichment["degraded"])

    response = asyncio.run(world.engine(RESPONSE_MODE="auto").respond(stored, now=NOW))
    assert response.state == "awaiting_approval" and "privilege unknown" in response.reason
    assert world.simulator.state.writes_of() == []
    assert _phases(world, case.case_id)["disable_user"] == "planned"


def test_a_role_holder_is_never_disabled_and_the_skip_says_why(world: World) -> None:
    case = world.case("compromised-signing-key", privileged=True)
    response = asyncio.run(world.engine(RESPONSE_MODE="auto").respond(case, now=NOW))
    assert response.state == "contained", response.reason
    disable = next(o for o in response.outcomes if o.step == "disable_user")
    assert disable.phase == "skipped" and "directory role" in str(disable.detail["reason"])
    assert world.simulator.state.writes_of("updateUser") == []
    assert {w.action for w in world.simulator.state.writes_of()} == {"revokeSignInSessions", "confirmCompromised"}


def test_an_approver_still_cannot_make_tokenwarden_disable_a_role_holder(world: World) -> None:
    case = world.case("compromised-signing-key", privileged=True)
    done = asyncio.run(world.engine(RESPONSE_MODE="approval").respond(
        case, now=NOW + timedelta(minutes=1), approved_by="alice@contoso.example"))
    assert _phases(world, case.case_id)["disable_user"] == "skipped"
    assert done.state == "contained" and world.simulator.state.writes_of("updateUser") == []


def test_without_the_identity_protection_licence_confirm_fails_alone_and_is_audited(world: World) -> None:
    case = world.case("compromised-signing-key")
    world.simulator.state.grants.identity_protection_licensed = False
    _retriage(world, case.case_id)
    stored = CaseStore(world.ledger.cases).get(case.case_id)
    assert stored is not None and stored.enrichment is not None
    assert any("risk" in line and "403" in line for line in stored.enrichment["degraded"])

    response = asyncio.run(world.engine(RESPONSE_MODE="auto").respond(stored, now=NOW))
    phases = _phases(world, case.case_id)
    assert phases["confirm_compromised"] == "failed"
    assert phases["revoke_sessions"] == "succeeded" and phases["disable_user"] == "succeeded"
    failed = next(r for r in ActionStore(world.ledger.actions).for_case(case.case_id)
                  if r.step == "confirm_compromised")
    assert "403" in str(failed.detail["error"])
    assert response.state == "failed" and "confirm_compromised" in response.reason


def test_a_restart_arm_refuses_fails_its_step_alone_and_is_audited(world: World) -> None:
    from shared.respond.steps.key_cache import KeyCacheRefresher, parse_cache_refresh_apps

    sites = "/subscriptions/00000000-0000-0000-0000-0000000000aa/resourceGroups/rg-apps/providers/Microsoft.Web/sites"
    granted = f"{sites}/a"
    refused = f"{sites}/b"
    world.simulator.state.grants.assign("siteRestart", [granted])  # as site-restart.bicep assigns it: one site
    case = world.case("compromised-signing-key")
    engine = world.engine(RESPONSE_MODE="auto")
    engine.key_cache = KeyCacheRefresher(
        parse_cache_refresh_apps(f'[{{"app_id": "*", "mechanism": "restart", "target": "{refused}"}}]'),
        credential=StaticCredential(), arm_endpoint=world.simulator.url)
    response = asyncio.run(engine.respond(case, now=NOW))
    refresh = next(o for o in response.outcomes if o.step == "refresh_app_key_cache")
    assert refresh.phase == "failed" and "403" in str(refresh.detail["error"])
    assert _phases(world, case.case_id)["revoke_sessions"] == "succeeded"
    assert response.state == "failed" and "refresh_app_key_cache" in response.reason
    assert world.simulator.state.site_restarts == {}
