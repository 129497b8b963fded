"""The response path under faults, end to end with the real SDKs against the simulator: a 429 storm, a timeout,
and a crash between a reporting step's intent and its outcome, then a resume that duplicates nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from shared.core.settings import load_settings
from shared.devkit.simulator.throttling import IDENTITY_WRITE, ThrottleLimit
from shared.respond.actions import ActionStore
from shared.respond.engine import ResponseEngine
from shared.respond.guardrails import BlastRadius, Guardrails
from shared.respond.plan import user_target
from shared.respond.steps.sentinel import SentinelIncidents, incident_name_for
from shared.respond.transport.arm_client import ArmClient
from shared.respond.transport.graph_actions import GraphActions
from shared.respond.transport.ratelimit import RateLimit, TokenBucket, limiters
from shared.respond.transport.retry import RetryPolicy
from tests.support.graph import StaticCredential
from tests.support.response_world import NOW, World

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph",
                  "tests.support.response_world")

WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-sec/providers/"
             "Microsoft.OperationalInsights/workspaces/ws1")


def _engine(world: World, *, graph: GraphActions, invocation: str = "inv-f",
            incidents: SentinelIncidents | None = None) -> ResponseEngine:
    from shared.cases.policy.loader import load_policy

    rails = Guardrails.from_settings(load_settings({"RESPONSE_MODE": "auto", "BLAST_RADIUS_PER_RUN": "50"}))
    return ResponseEngine(ledger=world.ledger, policy=load_policy(), guardrails=rails, graph=graph,
                          invocation_id=invocation, blast=BlastRadius(rails, actioned_this_hour=set()),
                          incidents=incidents)


def _graph(world: World, *, unpaced: bool = False, timeout: float = 30.0) -> GraphActions:
    from shared.cases.enrich.graph import build_graph_client

    client = build_graph_client(StaticCredential(), base_url=world.simulator.graph_url, sdk_retries=False,
                                timeout=timeout)
    buckets = limiters()
    if unpaced:  # as if another app shared the tenant's budget: the client's own pacing cannot prevent 429s
        buckets["identity_write"] = TokenBucket(RateLimit(requests=10_000, per_seconds=1))
    # Nine cases share two writes a second: the last waits out several 429s in a row, so allow enough attempts.
    return GraphActions(client, limiters=buckets,
                        retry=RetryPolicy(max_attempts=20, max_total_seconds=60, base_backoff=0.05))


def test_a_429_storm_is_ridden_out_by_honouring_retry_after_and_each_user_is_written_once(world: World) -> None:
    cases = [c for c in world.cases if user_target(c)]
    world.simulator.throttle.set_limit(IDENTITY_WRITE, ThrottleLimit(capacity=2, per_seconds=1.0))
    answers = asyncio.run(_engine(world, graph=_graph(world, unpaced=True)).respond_all(cases, now=NOW))
    assert {a.state for a in answers} == {"contained"}, [a.reason for a in answers if a.state != "contained"]
    revokes = [r for r in world.simulator.stats.records() if r.path.endswith("/revokeSignInSessions")]
    assert sum(1 for r in revokes if r.status == 429) > 0  # the storm happened
    assert all(r.retry_after for r in revokes if r.status == 429)  # and every 429 said when to come back
    written = [w.target for w in world.simulator.state.writes_of("revokeSignInSessions")]
    assert sorted(written) == sorted({user_target(c) for c in cases})  # once per user, none lost, none doubled


def test_a_timed_out_request_is_retried_and_the_case_still_contained(world: World) -> None:
    case = world.case("compromised-signing-key")
    user = user_target(case)
    world.simulator.faults.timeout(f"/users/{user}/revokeSignInSessions", hold_seconds=3.0, times=1)
    answer = asyncio.run(_engine(world, graph=_graph(world, timeout=0.5)).respond(case, now=NOW))
    assert answer.state == "contained", answer.reason
    statuses = [r.status for r in world.simulator.stats.records(path=f"/users/{user}/revokeSignInSessions")]
    assert statuses == [None, 200]  # the held request never answered; the retry did
    assert [w.target for w in world.simulator.state.writes_of("revokeSignInSessions")] == [user]


def test_a_crash_after_the_incident_and_comment_resumes_without_duplicating_them(world: World) -> None:
    case = world.case("compromised-signing-key")

    async def run(invocation: str, *, crash: bool) -> None:
        async with ArmClient(StaticCredential(), endpoint=world.simulator.url,
                             retry=RetryPolicy(max_total_seconds=10)) as arm:
            incidents = SentinelIncidents(arm, WORKSPACE)
            engine = _engine(world, graph=_graph(world), invocation=invocation, incidents=incidents)
            if crash:  # the dead run: intent written, incident and comment made, then the process died
                await engine.respond(case, now=NOW, run_id="run-1")
                store = ActionStore(world.ledger.actions)
                target = f"incident:{incident_name_for(case.case_id)}/run:run-1"
                record = store.get(case.case_id, "sentinel_incident", target)
                assert record is not None and record.phase == "succeeded"
                # Roll the ledger back to the moment before the outcome was written.
                store.table.delete_entity(case.case_id, record.action_id)
                store.record(case.case_id, "sentinel_incident", target, phase="intent", mode="auto",
                             invocation_id=invocation, detail={}, now=NOW)
                return
            await engine.respond(case, now=NOW + timedelta(minutes=1), run_id="run-1", approved_by="resume")

    asyncio.run(run("inv-dead", crash=True))
    before = dict(world.simulator.state.arm_resources)
    asyncio.run(run("inv-resume", crash=False))
    kinds = [str(r["type"]) for r in world.simulator.state.arm_resources.values()]
    assert kinds.count("Microsoft.SecurityInsights/Incidents") == 1
    assert sum(1 for k in kinds if k.endswith("/Comments")) == 1
    assert world.simulator.state.arm_resources.keys() == before.keys()
    record = ActionStore(world.ledger.actions).get(case.case_id, "sentinel_incident",
                                                   f"incident:{incident_name_for(case.case_id)}/run:run-1")
    assert record is not None and record.phase == "succeeded" and record.attempts == 2
