"""One actor per case: concurrent approvals and concurrent deliveries of one case write to the tenant once.

The real function objects (``approve_case``, ``respond``) run in threads at the same time against Azurite and
the Graph simulator; the simulator's write log counts what reached the tenant, per user and per step.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.functions.queue import QueueMessage

from bench.reliability.stack import TENANT_WRITES, duplicates, together
from shared.devkit.simulator.handlers.writes import revoke_sign_in_sessions
from shared.devkit.simulator.responses import GraphResponse
from shared.devkit.simulator.routing import RequestContext, Route, SimulatorApp
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import LedgerTableNames
from shared.ledger.lease import CaseLease, LeaseLostError
from shared.respond.actions import ActionStore
from shared.respond.facts import user_target
from shared.respond.work_queue import WorkItem
from tests.api.api_support import Answer, call, registered_http_functions
from tests.support.demo import DemoLogs
from tests.support.function_env import set_function_environment
from tests.support.response_world import NOW, World

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph",
                  "tests.support.response_world")

@dataclass(frozen=True)
class Context:
    invocation_id: str


def _environment(monkeypatch: pytest.MonkeyPatch, world: World, demo_logs: DemoLogs,
                 storage_environment: dict[str, str], ledger_names: LedgerTableNames, mode: str) -> None:
    settings = demo_logs.environment(**storage_environment, GRAPH_ENDPOINT=world.simulator.url,
                                     ARM_ENDPOINT=world.simulator.url, RESPONSE_MODE=mode,
                                     BLAST_RADIUS_PER_RUN="50",
                                     # who approves is not what these races test (tests/api/test_approvers.py is)
                                     INSECURE_LOCAL_APPROVALS="true")
    set_function_environment(monkeypatch, settings, ledger_names)


def _duplicates(world: World) -> int:
    """Tenant writes beyond the first per (write, user)."""
    return duplicates(world.simulator.state.writes)


def _awaiting(world: World) -> str:
    case = world.case("compromised-signing-key")
    answer = asyncio.run(world.engine("inv-plan", RESPONSE_MODE="approval").respond(case, now=NOW))
    assert answer.state == "awaiting_approval", answer.reason
    return case.case_id


def test_four_concurrent_approvals_write_each_step_once_and_the_losers_answer_202(
        world: World, monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
        ledger_names: LedgerTableNames) -> None:
    case_id = _awaiting(world)
    _environment(monkeypatch, world, demo_logs, storage_environment, ledger_names, "approval")

    def approve(n: int) -> Callable[[], Answer]:
        return lambda: call("POST", "cases/{id}/approve", route_params={"id": case_id}, invocation_id=f"inv-ap-{n}",
                            body={"approver": f"approver{n}@contoso.example", "comment": "go"})

    registered_http_functions()  # index the app once, before the threads race
    answers = together([approve(n) for n in range(4)])
    statuses = sorted(a.status for a in answers)
    assert _duplicates(world) == 0
    user = user_target(world.case("compromised-signing-key"))
    assert user and world.simulator.state.writes_of("revokeSignInSessions", user)  # the winner did act
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 202, 409}, [a.text for a in answers]
    for answer in answers:
        if answer.status == 202:
            assert answer.json["state"] == "in_progress" and answer.json["case_id"] == case_id
            assert answer.json["status_url"].endswith(f"/api/cases/{case_id}")
    case = CaseStore(world.ledger.cases).get(case_id)
    assert case is not None and case.state == "contained"


@dataclass(frozen=True)
class Delivery:
    functions: dict[str, Callable[..., Any]]
    case_id: str
    body: bytes


@pytest.fixture
def delivery(world: World, monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs,
             storage_environment: dict[str, str], ledger_names: LedgerTableNames) -> Delivery:
    """The function app in auto mode, and a respond message for the compromised-key case."""
    import function_app

    _environment(monkeypatch, world, demo_logs, storage_environment, ledger_names, "auto")
    app = importlib.reload(function_app).app
    functions = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}
    case = world.case("compromised-signing-key")
    body = WorkItem(case_id=case.case_id, queued_at=NOW, reason="scan").to_json().encode()
    return Delivery(functions=functions, case_id=case.case_id, body=body)


def test_two_concurrent_deliveries_of_one_message_write_each_step_once(world: World, delivery: Delivery) -> None:
    functions, body = delivery.functions, delivery.body

    def deliver(n: int) -> Callable[[], None]:
        message = QueueMessage(id="msg-dup", body=body, dequeue_count=1)
        return lambda: functions["respond"](message=message, context=Context(f"inv-q-{n}"))

    results = together([deliver(n) for n in range(2)])
    assert [r for r in results if isinstance(r, Exception)] == []  # the loser completes quietly
    assert _duplicates(world) == 0
    stored = CaseStore(world.ledger.cases).get(delivery.case_id)
    assert stored is not None and stored.state == "contained"


class _SlowRevoke:
    """A revoke that is applied at once but answered only when the test says: a holder caught mid-step."""

    def __init__(self, world: World) -> None:
        self.inside = threading.Event()
        self.go_on = threading.Event()
        world.simulator.simulator.router.add(Route(method="POST", template="/users/{id}/revokeSignInSessions",
                                                   handler=self, family="identity"))

    def __call__(self, context: RequestContext, app: SimulatorApp) -> GraphResponse:
        answer = revoke_sign_in_sessions(context, app)
        self.inside.set()
        self.go_on.wait(60)
        return answer


def test_a_delivery_while_another_is_mid_step_completes_quietly_and_writes_nothing(
        world: World, delivery: Delivery) -> None:
    functions, body = delivery.functions, delivery.body
    gate = _SlowRevoke(world)
    first = threading.Thread(target=lambda: functions["respond"](
        message=QueueMessage(id="m-1", body=body, dequeue_count=1), context=Context("inv-first")))
    first.start()
    try:
        assert gate.inside.wait(60)  # the first delivery has sent its revoke and waits for the answer
        functions["respond"](message=QueueMessage(id="m-1", body=body, dequeue_count=2), context=Context("inv-second"))
        assert [w for w in world.simulator.state.writes if w.action in TENANT_WRITES][1:] == []
    finally:
        gate.go_on.set()
        first.join()
    assert _duplicates(world) == 0
    stored = CaseStore(world.ledger.cases).get(delivery.case_id)
    assert stored is not None and stored.state == "contained"


def test_an_approval_while_another_is_mid_step_answers_202_and_writes_nothing(
        world: World, monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
        ledger_names: LedgerTableNames) -> None:
    case_id = _awaiting(world)
    _environment(monkeypatch, world, demo_logs, storage_environment, ledger_names, "approval")
    registered_http_functions()
    gate = _SlowRevoke(world)
    answers: list[Answer] = []
    first = threading.Thread(target=lambda: answers.append(call(
        "POST", "cases/{id}/approve", route_params={"id": case_id}, invocation_id="inv-ap-first",
        body={"approver": "ana@contoso.example"})))
    first.start()
    try:
        assert gate.inside.wait(60)
        second = call("POST", "cases/{id}/approve", route_params={"id": case_id}, invocation_id="inv-ap-second",
                      body={"approver": "bob@contoso.example"})
        assert second.status == 202, second.text
        assert second.json["state"] == "in_progress" and second.headers["Location"] == f"/api/cases/{case_id}"
    finally:
        gate.go_on.set()
        first.join()
    assert answers[0].status == 200 and answers[0].json["state"] == "contained"
    assert _duplicates(world) == 0


def test_a_live_lease_keeps_others_out_and_an_expired_one_is_taken_over(world: World) -> None:
    case = world.case("compromised-signing-key")
    start = datetime.now(UTC)
    clock = [start]
    first = CaseLease(world.ledger.cases, case.case_id, owner="inv-a", clock=lambda: clock[0])
    second = CaseLease(world.ledger.cases, case.case_id, owner="inv-b", clock=lambda: clock[0])
    assert first.claim().held
    loss = second.claim()
    assert not loss.held and loss.holder == "inv-a" and loss.until is not None
    first.renew()  # the holder may renew
    clock[0] = start + timedelta(seconds=first.seconds + 1)  # the holder died: its lease runs out
    assert second.claim().held
    with pytest.raises(LeaseLostError, match="inv-b"):
        first.renew()  # the old holder finds out before its next write, and stops
    second.release()
    assert first.claim().held  # released: free for the next delivery


def test_a_holder_whose_lease_was_taken_over_writes_nothing_more(world: World) -> None:
    """The engine re-checks the lease before each tenant write: a stale holder stops at the next step."""
    case = world.case("compromised-signing-key")
    engine = world.engine("inv-stale", RESPONSE_MODE="auto", BLAST_RADIUS_PER_RUN="50")
    taken: list[bool] = []

    def take_over_after_first_write(record: Any) -> None:
        # The first step's intent is on record, its tenant write not yet sent: the thief takes over here. (Its
        # outcome is no longer a point in time between two steps: it is written with the next step's intent,
        # after that step's lease check.)
        if record.phase == "intent" and not taken:
            # Another invocation takes the lease over, as if ours had expired.
            from shared.ledger.optimistic import read_modify_write

            read_modify_write(world.ledger.cases, "case", case.case_id,
                              lambda stored: {"LeaseOwner": "inv-thief",
                                              "LeaseUntil": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()},
                              what="steal")
            taken.append(True)

    engine.on_record = take_over_after_first_write
    engine.__post_init__()
    answer = asyncio.run(engine.respond(case, now=NOW))
    assert taken and "lease" in answer.reason
    phases = {r.step: r.phase for r in ActionStore(world.ledger.actions).for_case(case.case_id)}
    assert list(phases.values()).count("succeeded") == 1  # the first write, then nothing
    writes = [w for w in world.simulator.state.writes if w.action in TENANT_WRITES]
    assert len(writes) == 1
