"""The playbook engine end to end: scan into the ledger (Azurite), triage with the simulator, then respond with
the real msgraph-sdk against the simulator's write endpoints, under every mode and guardrail."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from shared.ledger.case_store import CaseStore
from shared.respond.actions import ActionStore
from shared.respond.steps.registry import ACTING_STEPS, REPORTING_STEPS
from tests.support.response_world import NOW, World

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph",
                  "tests.support.response_world")


def _writes(world: World) -> list[tuple[str, str]]:
    return [(w.action, w.target) for w in world.simulator.state.writes_of()]


def test_auto_mode_contains_the_case_and_records_intent_then_outcome(world: World) -> None:
    case = world.case("compromised-signing-key")
    response = asyncio.run(world.engine(RESPONSE_MODE="auto").respond(case, now=NOW))
    assert response.state == "contained", response.reason
    user = next(u["id"] for u in case.enrichment["users"])  # type: ignore[index]
    assert sorted(_writes(world)) == sorted([("revokeSignInSessions", user), ("confirmCompromised", user),
                                             ("updateUser", user)])
    assert world.simulator.state.find_user(user).account_enabled is False  # type: ignore[union-attr]
    records = ActionStore(world.ledger.actions).for_case(case.case_id)
    assert {r.step: r.phase for r in records if r.step in ("revoke_sessions", "disable_user",
                                                           "confirm_compromised")} == {
        "revoke_sessions": "succeeded", "disable_user": "succeeded", "confirm_compromised": "succeeded"}
    assert all(r.attempts == 1 for r in records if r.phase == "succeeded")


def test_a_replayed_run_changes_nothing(world: World) -> None:
    case = world.case("compromised-signing-key")
    asyncio.run(world.engine(RESPONSE_MODE="auto").respond(case, now=NOW))
    before = _writes(world)
    replayed = CaseStore(world.ledger.cases).get(case.case_id)
    assert replayed is not None
    again = asyncio.run(world.engine("inv-2", RESPONSE_MODE="auto").respond(replayed, now=NOW + timedelta(minutes=1)))
    assert _writes(world) == before
    assert all(o.phase in ("succeeded", "skipped") for o in again.outcomes)


def test_a_crash_between_intent_and_outcome_is_resumed_without_a_second_write(world: World) -> None:
    case = world.case("compromised-signing-key")
    user = next(u["id"] for u in case.enrichment["users"])  # type: ignore[index]
    store = ActionStore(world.ledger.actions)
    # The dead run wrote its intent and revoked, then died before recording the outcome.
    store.record(case.case_id, "revoke_sessions", user, phase="intent", mode="auto", invocation_id="dead",
                 detail={}, now=NOW - timedelta(seconds=5))
    dead = world.engine("dead", RESPONSE_MODE="auto")
    asyncio.run(dead.graph.revoke_sessions(user))  # type: ignore[union-attr]
    asyncio.run(world.engine("inv-resume", RESPONSE_MODE="auto").respond(case, now=NOW))
    assert [w for w in _writes(world) if w[0] == "revokeSignInSessions"] == [("revokeSignInSessions", user)]
    record = store.get(case.case_id, "revoke_sessions", user)
    assert record is not None and record.phase == "succeeded" and record.detail["changed"] is False


def test_an_already_disabled_account_is_a_success_not_a_second_write(world: World) -> None:
    case = world.case("compromised-signing-key")
    user = next(u["id"] for u in case.enrichment["users"])  # type: ignore[index]
    world.simulator.state.find_user(user).account_enabled = False  # type: ignore[union-attr]
    asyncio.run(world.engine(RESPONSE_MODE="auto").respond(case, now=NOW))
    assert ("updateUser", user) not in _writes(world)
    record = ActionStore(world.ledger.actions).get(case.case_id, "disable_user", user)
    assert record is not None and record.phase == "succeeded" and record.detail["changed"] is False


def test_dry_run_records_the_plan_and_leaves_the_tenant_untouched(world: World) -> None:
    case = world.case("compromised-signing-key")
    response = asyncio.run(world.engine(RESPONSE_MODE="dry-run").respond(case, now=NOW))
    assert _writes(world) == []
    assert response.state == "enriched"
    assert {o.phase for o in response.outcomes} == {"planned"}


def test_approval_mode_waits_then_an_approver_executes(world: World) -> None:
    case = world.case("compromised-signing-key")
    waiting = asyncio.run(world.engine(RESPONSE_MODE="approval").respond(case, now=NOW))
    assert waiting.state == "awaiting_approval" and _writes(world) == []
    stored = CaseStore(world.ledger.cases).get(case.case_id)
    assert stored is not None
    done = asyncio.run(world.engine("inv-approve", RESPONSE_MODE="approval").respond(
        stored, now=NOW + timedelta(minutes=2), approved_by="alice@contoso.example"))
    assert done.state == "contained" and len(_writes(world)) == 3
    final = CaseStore(world.ledger.cases).get(case.case_id)
    assert final is not None and any("approved by alice@contoso.example" in t.reason for t in final.transitions)


def test_a_protected_principal_is_never_actioned(world: World) -> None:
    case = world.case("compromised-signing-key")
    upn = case.user_upns[0]
    response = asyncio.run(world.engine(RESPONSE_MODE="auto", PROTECTED_PRINCIPALS=upn).respond(case, now=NOW))
    assert _writes(world) == []
    assert response.state == "awaiting_approval" and "PROTECTED_PRINCIPALS" in response.reason
    assert {o.phase for o in response.outcomes if o.step in ACTING_STEPS} == {"refused"}
    # The reporting steps still run (here unconfigured, so recorded as skipped) to say why nothing was done.
    assert {o.step for o in response.outcomes if o.phase == "skipped"} == set(REPORTING_STEPS)
    approved = asyncio.run(world.engine(RESPONSE_MODE="auto", PROTECTED_PRINCIPALS=upn).respond(
        case, now=NOW, approved_by="alice"))
    assert _writes(world) == [] and {o.phase for o in approved.outcomes if o.step in ACTING_STEPS} == {"refused"}


def test_the_blast_radius_holds_the_rest_for_approval(world: World) -> None:
    engine = world.engine(RESPONSE_MODE="auto", BLAST_RADIUS_PER_RUN="1")
    responses = [asyncio.run(engine.respond(c, now=NOW)) for c in world.cases if c.principal.kind == "user"][:3]
    assert [r.state for r in responses][:2] == ["contained", "awaiting_approval"]
    assert "BLAST_RADIUS_PER_RUN=1" in responses[1].reason
    assert len({target for _, target in _writes(world)}) == 1


def test_a_503_then_success_and_a_throttled_write_are_retried(world: World) -> None:
    case = world.case("compromised-signing-key")
    user = next(u["id"] for u in case.enrichment["users"])  # type: ignore[index]
    world.simulator.faults.fail(f"/users/{user}/revokeSignInSessions", status=503, times=1, retry_after=0)
    world.simulator.faults.fail(f"/users/{user}", status=429, times=2, retry_after=1, method="PATCH")
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    response = asyncio.run(world.engine(RESPONSE_MODE="auto", sleep=sleep).respond(case, now=NOW))
    assert response.state == "contained"
    patches = [r.status for r in world.simulator.stats.records(path=f"/users/{user}") if r.method == "PATCH"]
    assert patches == [429, 429, 204]
    revokes = [r.status for r in world.simulator.stats.records(path=f"/users/{user}/revokeSignInSessions")]
    assert revokes == [503, 200]
    # The 503 said Retry-After: 0; each 429 said 1 s and was waited out (plus jitter) before the retry.
    assert waits[0] == 0.0 and sum(1 for w in waits if w >= 1.0) >= 2


def test_a_step_that_fails_for_good_fails_the_case_with_the_error(world: World) -> None:
    case = world.case("compromised-signing-key")
    user = next(u["id"] for u in case.enrichment["users"])  # type: ignore[index]
    world.simulator.faults.fail(f"/users/{user}", status=403, times=None, method="PATCH")
    response = asyncio.run(world.engine(RESPONSE_MODE="auto").respond(case, now=NOW))
    assert response.state == "failed" and "disable_user" in response.reason and "403" in response.reason
    stored = CaseStore(world.ledger.cases).get(case.case_id)
    assert stored is not None and stored.state == "failed"


def test_a_failed_case_is_planned_again_and_an_approval_finishes_only_what_was_left(world: World) -> None:
    case = world.case("compromised-signing-key")
    user = next(u["id"] for u in case.enrichment["users"])  # type: ignore[index]
    world.simulator.faults.fail(f"/users/{user}", status=403, times=None, method="PATCH")
    failed = asyncio.run(world.engine(RESPONSE_MODE="auto").respond(case, now=NOW))
    assert failed.state == "failed"
    revoked = _writes(world).count(("revokeSignInSessions", user))
    world.simulator.faults.clear()
    waiting = asyncio.run(world.engine("inv-retry", RESPONSE_MODE="approval").respond(
        case, now=NOW + timedelta(minutes=1)))
    assert waiting.state == "awaiting_approval"
    done = asyncio.run(world.engine("inv-approve", RESPONSE_MODE="approval").respond(
        case, now=NOW + timedelta(minutes=2), approved_by="alice"))
    assert done.state == "contained", done.reason
    assert _writes(world).count(("revokeSignInSessions", user)) == revoked == 1  # the finished step is not redone
    assert ("updateUser", user) in _writes(world)


def test_one_run_admits_the_blast_radius_in_the_callers_order_however_many_cases_run_at_once(world: World) -> None:
    """Cases are claimed and answered in a pipeline, but decided in order: the first case given is the one admitted."""
    users = [c for c in world.cases if c.principal.kind == "user"][:3]
    assert len(users) == 3
    engine = world.engine(RESPONSE_MODE="auto", BLAST_RADIUS_PER_RUN="1")
    engine.concurrency = 3
    responses = asyncio.run(engine.respond_all(list(reversed(users)), now=NOW))
    assert [r.case_id for r in responses] == [c.case_id for c in reversed(users)]
    assert [r.state for r in responses] == ["contained", "awaiting_approval", "awaiting_approval"]
    first = next(u["id"] for u in users[-1].enrichment["users"])  # type: ignore[index]
    assert {target for _, target in _writes(world)} == {first}


def test_a_case_that_cannot_be_decided_stops_the_cases_after_it_and_frees_their_leases(world: World) -> None:
    """A missing case fails the run: cases before it in the callers' order are answered, none after it acts."""
    from dataclasses import replace

    import pytest

    from shared.core.errors import TokenwardenError
    from shared.ledger.lease import CaseLease

    first, last = [c for c in world.cases if c.principal.kind == "user"][:2]
    missing = replace(first, case_id="no-such-case")
    engine = world.engine(RESPONSE_MODE="auto")
    engine.concurrency = 3
    with pytest.raises(TokenwardenError, match="there is no case no-such-case"):
        asyncio.run(engine.respond_all([first, missing, last], now=NOW))
    targets = {target for _, target in _writes(world)}
    assert next(u["id"] for u in first.enrichment["users"]) in targets  # type: ignore[index]
    assert next(u["id"] for u in last.enrichment["users"]) not in targets  # type: ignore[index]
    assert CaseLease(world.ledger.cases, last.case_id, owner="another-invocation").claim().held
