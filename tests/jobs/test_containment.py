"""Proof that containment held (issue 14 §4), end to end: a case the engine contained against the Graph simulator,
the ledger's revocation fed to the containment-breached rule by the scan, the case reopened as
``containment_breached`` with the evidence in its transition, and the breach reported through the Sentinel step."""

from __future__ import annotations

import asyncio
import html
import random
from datetime import datetime, timedelta
from pathlib import Path

from shared.cases.model import Case
from shared.core.settings import load_settings
from shared.detect.hunt import HuntContext
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import load_rules
from shared.devkit.demo_data.rows import graph_row
from shared.devkit.demo_data.writer import TableWriters
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.containment import OWN_REVOCATIONS_PARAMETER, own_revocations, with_own_revocations
from shared.jobs.scan import ScanReport, scan
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger
from shared.respond.actions import ActionStore
from shared.respond.engine import ResponseEngine
from shared.respond.guardrails import BlastRadius, Guardrails
from shared.respond.steps.sentinel import SentinelIncidents
from shared.respond.transport.arm_client import ArmClient
from shared.respond.transport.retry import RetryPolicy
from tests.support.graph import StaticCredential
from tests.support.response_world import NOW, World

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph",
                  "tests.support.response_world")

RULES = load_rules().select(["containment-breached"])
TENANT = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-sec/providers/"
             "Microsoft.OperationalInsights/workspaces/ws1")


def _contained(world: World) -> tuple[Case, str]:
    case = world.case("compromised-signing-key")
    response = asyncio.run(world.engine(RESPONSE_MODE="auto").respond(case, now=NOW))
    assert response.state == "contained", response.reason
    return case, case.principal.value


def _graph_use(folder: Path, *, user: str, when: datetime, issued: datetime, ip: str, uti: str) -> None:
    with TableWriters(folder) as writers:
        writers.write("MicrosoftGraphActivityLogs", graph_row(
            random.Random(7), when=when, tenant_id=TENANT, app_id="d3590ed6-52b3-4102-aeff-aad2292ab01c",
            user_id=user, service_principal_id=None, ip=ip, uti=uti, issued_at=issued, user_agent="Client=REST"))


def _scan(folder: Path, ledger: Ledger, now: datetime) -> ScanReport:
    workspace = LocalWorkspace.from_exports(folder)
    try:
        return scan(workspace, RULES, context=HuntContext(keys=KeyIntelligence(published=(),
                                                                               compromised=load_compromised_keys())),
                    ledger=ledger, policy=ScanPolicy(initial_lookback=timedelta(hours=6)), now=now)
    finally:
        workspace.close()


def test_the_ledger_feeds_each_contained_users_revocation_to_the_rule(world: World) -> None:
    case, user = _contained(world)
    revoked = ActionStore(world.ledger.actions).get(case.case_id, "revoke_sessions", user)
    assert revoked is not None and revoked.phase == "succeeded"
    entries = own_revocations(world.ledger, now=NOW + timedelta(hours=1))
    assert f"{user}|{revoked.updated_at.isoformat().replace('+00:00', 'Z')}|{case.case_id}" in entries
    # Only contained cases are watched: the other triaged cases were never contained.
    assert {entry.split("|")[2] for entry in entries} == {case.case_id}
    # An operator's explicit value wins over the ledger's.
    context = HuntContext(keys=KeyIntelligence(published=(), compromised=load_compromised_keys()),
                          overrides={OWN_REVOCATIONS_PARAMETER: []})
    assert with_own_revocations(context, world.ledger, now=NOW).overrides[OWN_REVOCATIONS_PARAMETER] == []


def test_a_pre_revocation_token_used_later_reopens_the_case_as_breached_and_the_incident_says_so(
        world: World, tmp_path: Path) -> None:
    case, user = _contained(world)
    _graph_use(tmp_path, user=user, when=NOW + timedelta(hours=2), issued=NOW - timedelta(minutes=30),
               ip="195.26.87.219", uti="stolen-before-revocation")
    report = _scan(tmp_path, world.ledger, NOW + timedelta(hours=3))
    assert [f.token_id for f in report.findings] == ["stolen-before-revocation"]
    assert report.findings[0].evidence["contained_case_ids"] == [case.case_id]
    breached = CaseStore(world.ledger.cases).get(case.case_id)
    assert breached is not None and breached.state == "containment_breached"
    last = breached.transitions[-1]
    assert (last.from_state, last.to_state) == ("contained", "containment_breached")
    assert "stolen-before-revocation" in last.reason and "195.26.87.219" in last.reason
    assert case.case_id in report.cases_needing_work  # the respond pass is queued

    # Respond: nothing acts again (the containing steps already succeeded), the breach goes to Sentinel.
    graph_writes = ("revokeSignInSessions", "confirmCompromised", "updateUser")
    writes_before = [w for w in world.simulator.state.writes_of() if w.action in graph_writes]

    async def respond() -> str:
        rails = Guardrails.from_settings(load_settings({"RESPONSE_MODE": "auto"}))
        async with ArmClient(StaticCredential(), endpoint=world.simulator.url,
                             retry=RetryPolicy(base_backoff=0.01, max_total_seconds=10)) as arm:
            engine = ResponseEngine(ledger=world.ledger, policy=world.engine().policy, guardrails=rails,
                                    graph=world.engine().graph, invocation_id="inv-breach",
                                    blast=BlastRadius(rails, actioned_this_hour=set()),
                                    incidents=SentinelIncidents(arm, WORKSPACE))
            answer = await engine.respond(breached, now=NOW + timedelta(hours=3, minutes=1))
            return answer.state

    assert asyncio.run(respond()) == "containment_breached"
    assert [w for w in world.simulator.state.writes_of() if w.action in graph_writes] == writes_before
    comments = [r for r in world.simulator.state.arm_resources.values() if str(r["type"]).endswith("/Comments")]
    messages = [html.unescape(str(c["properties"]["message"])) for c in comments]
    assert any("<b>state</b> containment_breached" in m and "stolen-before-revocation" in m
               and "containment breached: token stolen-before-revocation" in m for m in messages), messages


def test_a_client_refreshing_right_after_the_revocation_leaves_the_case_contained(
        world: World, tmp_path: Path) -> None:
    case, user = _contained(world)
    revoked = ActionStore(world.ledger.actions).get(case.case_id, "revoke_sessions", user)
    assert revoked is not None
    at = revoked.updated_at
    _graph_use(tmp_path, user=user, when=at + timedelta(minutes=2), issued=at - timedelta(minutes=20),
               ip="203.0.113.50", uti="users-own-old-token")
    with TableWriters(tmp_path) as writers:
        writers.write("SigninLogs", {"TimeGenerated": at + timedelta(minutes=3), "UserId": user,
                                     "ResultType": "0", "IPAddress": "203.0.113.50",
                                     "UniqueTokenIdentifier": "fresh", "AppId": "d3590ed6-52b3-4102-aeff-aad2292ab01c"})
    report = _scan(tmp_path, world.ledger, at + timedelta(hours=1))
    assert report.findings == ()
    stored = CaseStore(world.ledger.cases).get(case.case_id)
    assert stored is not None and stored.state == "contained"
