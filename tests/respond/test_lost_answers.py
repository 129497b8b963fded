"""Writes checked, not blindly repeated: a Graph write whose answer was lost after it was applied, or whose
"succeeded" record never reached the ledger, is not sent again; the target's state is read and recorded.

The simulator's ``drop_after_apply`` fault applies the write and then closes the connection unanswered.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from shared.respond.actions import ActionStore
from shared.respond.plan import user_target
from tests.support.response_world import NOW, World

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph",
                  "tests.support.response_world")

STEP_WRITES = {"revoke_sessions": ("revokeSignInSessions", "/users/{user}/revokeSignInSessions"),
               "disable_user": ("updateUser", "/users/{user}"),
               "confirm_compromised": ("confirmCompromised", "/identityProtection/riskyUsers/confirmCompromised")}


def _auto(world: World, invocation: str) -> object:
    return world.engine(invocation, RESPONSE_MODE="auto", BLAST_RADIUS_PER_RUN="50")


@pytest.mark.parametrize("step", sorted(STEP_WRITES))
def test_a_write_whose_answer_was_lost_after_it_applied_is_not_sent_again(world: World, step: str) -> None:
    case = world.case("compromised-signing-key")
    user = user_target(case)
    assert user
    action, path = STEP_WRITES[step]
    method = "PATCH" if step == "disable_user" else "POST"
    world.simulator.faults.drop_after_apply(path.format(user=user), method=method, times=1)
    answer = asyncio.run(world.engine("inv-drop", RESPONSE_MODE="auto", BLAST_RADIUS_PER_RUN="50")
                         .respond(case, now=NOW))
    assert answer.state == "contained", answer.reason
    assert len(world.simulator.state.writes_of(action, user)) == 1
    record = ActionStore(world.ledger.actions).get(case.case_id, step, user)
    assert record is not None and record.phase == "succeeded"
    assert record.detail.get("verified_after_lost_answer") is True and record.detail.get("found"), record.detail


@pytest.mark.parametrize("step", sorted(STEP_WRITES))
def test_a_step_whose_succeeded_record_was_lost_is_read_back_not_resent(world: World, step: str) -> None:
    case = world.case("compromised-signing-key")
    user = user_target(case)
    assert user
    first = asyncio.run(world.engine("inv-1", RESPONSE_MODE="auto", BLAST_RADIUS_PER_RUN="50").respond(case, now=NOW))
    assert first.state == "contained", first.reason
    action, _ = STEP_WRITES[step]
    assert len(world.simulator.state.writes_of(action, user)) == 1
    # The ledger lost the step's "succeeded": it is back at the intent written before the call.
    store = ActionStore(world.ledger.actions)
    record = store.get(case.case_id, step, user)
    assert record is not None
    store.table.delete_entity(case.case_id, record.action_id)
    store.record(case.case_id, step, user, phase="intent", mode="auto", invocation_id="inv-1", detail={}, now=NOW)
    again = asyncio.run(world.engine("inv-2", RESPONSE_MODE="auto", BLAST_RADIUS_PER_RUN="50")
                        .respond(case, now=NOW + timedelta(minutes=1), approved_by="resume"))
    assert again.state == "contained", again.reason
    assert len(world.simulator.state.writes_of(action, user)) == 1
    resumed = store.get(case.case_id, step, user)
    assert resumed is not None and resumed.phase == "succeeded"
    assert resumed.detail.get("changed") is False and resumed.detail.get("found"), resumed.detail
