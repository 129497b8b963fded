"""The scan timer, the respond queue worker, its poison companion and the Sentinel incident route, end to end.

Each is the real function object from function_app, called with azure.functions objects, against Azurite
(the ledger), the local logs, and the simulator (Graph writes, Sentinel incidents and comments)."""

from __future__ import annotations

import copy
import importlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from shared.devkit.simulator import SimulatorServer, load_tenant_state
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger, LedgerTableNames
from shared.respond.steps.sentinel import incident_name_for
from shared.respond.work_queue import parse_work_item
from tests.support.demo import DemoLogs
from tests.support.function_env import QueueOutput, set_function_environment
from tests.support.graph import serving

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-tokenwarden/providers/"
             "Microsoft.OperationalInsights/workspaces/log-tokenwarden")
TRIGGER = Path(__file__).parents[1] / "fixtures" / "sentinel_incident_trigger.json"


@dataclass(frozen=True)
class Context:
    invocation_id: str = "inv-test"


@pytest.fixture(scope="module")
def functions() -> dict[str, Callable[..., Any]]:
    import function_app

    app = importlib.reload(function_app).app
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


@pytest.fixture
def simulator(demo_logs: DemoLogs) -> Iterator[SimulatorServer]:
    with serving(load_tenant_state(demo_logs.folder)) as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
        ledger_names: LedgerTableNames, ledger: Ledger, simulator: SimulatorServer) -> Ledger:
    settings = demo_logs.environment(
        **storage_environment, GRAPH_ENDPOINT=simulator.url, ARM_ENDPOINT=simulator.url,
        SENTINEL_WORKSPACE_RESOURCE_ID=WORKSPACE, RESPONSE_MODE="approval", SCAN_LOOKBACK="400d",
        SCAN_MAX_CHUNK="401d", INGESTION_DELAY="0m")
    set_function_environment(monkeypatch, settings, ledger_names)
    return ledger


def _scan(functions: dict[str, Callable[..., Any]]) -> list[str]:
    out = QueueOutput()
    functions["scan"](timer=TimerRequest(past_due=False), work=out)
    return out.get()


def _comments(simulator: SimulatorServer, incident: str) -> list[str]:
    prefix = f"{WORKSPACE}/providers/microsoft.securityinsights/incidents/{incident}/comments/".lower()
    return [key for key in simulator.state.arm_resources if key.startswith(prefix)]


def test_the_bindings_are_what_the_host_and_the_deployment_expect() -> None:
    import function_app

    app = importlib.reload(function_app).app
    bindings = {f.get_function_name(): json.loads(f.get_function_json())["bindings"] for f in app.get_functions()}
    scan = {b["type"]: b for b in bindings["scan"]}
    assert scan["timerTrigger"]["schedule"] == "%SCAN_SCHEDULE%" and scan["timerTrigger"]["useMonitor"] is True
    assert scan["queue"]["queueName"] == "tokenwarden-respond" and scan["queue"]["direction"] == "OUT"
    assert scan["queue"]["connection"] == "AzureWebJobsStorage"
    respond = bindings["respond"][0]
    assert (respond["type"], respond["queueName"], respond["connection"]) == (
        "queueTrigger", "tokenwarden-respond", "AzureWebJobsStorage")
    assert bindings["respond_poison"][0]["queueName"] == "tokenwarden-respond-poison"
    http = next(b for b in bindings["sentinel_incident"] if b["type"] == "httpTrigger")
    assert (http["route"], http["methods"], http["authLevel"]) == ("sentinel/incident", ["POST"], "FUNCTION")


def test_scan_queues_one_message_per_case_then_the_worker_plans_and_reports(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer) -> None:
    messages = _scan(functions)
    items = [parse_work_item(m) for m in messages]
    assert items and len({i.case_id for i in items}) == len(items)
    store = CaseStore(env.cases)
    assert all(store.get(i.case_id) is not None for i in items)
    assert _scan(functions) == []  # the checkpoints moved: nothing new, nothing queued twice

    target = next(i for i in items if "compromised-signing-key" in store.get(i.case_id).rule_ids)  # type: ignore[union-attr]
    message = QueueMessage(id="msg-1", body=target.to_json().encode(), dequeue_count=1)
    functions["respond"](message=message, context=Context("inv-1"))
    case = store.get(target.case_id)
    assert case is not None and case.state == "awaiting_approval"
    assert simulator.state.writes_of("revokeSignInSessions") == []  # approval mode: nothing touched the tenant
    incident = incident_name_for(target.case_id)
    assert len(_comments(simulator, incident)) == 1
    functions["respond"](message=message, context=Context("inv-2"))  # the host redelivers the same message
    assert len(_comments(simulator, incident)) == 1


def test_a_poisoned_message_fails_its_case_and_says_so_on_the_incident(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer) -> None:
    items = [parse_work_item(m) for m in _scan(functions)]
    store = CaseStore(env.cases)
    target = next(i for i in items if "compromised-signing-key" in store.get(i.case_id).rule_ids)  # type: ignore[union-attr]
    body = target.to_json().encode()
    functions["respond"](message=QueueMessage(id="m-7", body=body), context=Context("inv-1"))
    functions["respond_poison"](message=QueueMessage(id="m-7", body=body, dequeue_count=5),
                                context=Context("inv-poison"))
    case = store.get(target.case_id)
    assert case is not None and case.state == "failed"
    assert "gave up after 5 attempt(s)" in case.transitions[-1].reason
    assert len(_comments(simulator, incident_name_for(target.case_id))) == 2
    # A message that is not ours is logged with its body and acknowledged, not retried forever.
    functions["respond_poison"](message=QueueMessage(id="junk", body=b"not json"), context=Context("x"))


def test_a_poisoned_case_is_retried_a_bounded_number_of_times_not_requeued_by_every_scan(
        env: Ledger, functions: dict[str, Callable[..., Any]]) -> None:
    """Each poisoned message is one failed pass on the case's outbox mark: the mark stays, delayed, until
    WORK_ATTEMPTS passes have failed; then it is cleared and the case stays failed, for an operator."""
    from shared.cases.model import WORK_ATTEMPTS
    from shared.jobs.scan import stale_cases
    from tests.api.api_support import call

    items = [parse_work_item(m) for m in _scan(functions)]
    store = CaseStore(env.cases)
    target = next(i for i in items if "compromised-signing-key" in store.get(i.case_id).rule_ids)  # type: ignore[union-attr]
    body = target.to_json().encode()
    for attempt in range(1, WORK_ATTEMPTS + 1):
        functions["respond_poison"](message=QueueMessage(id=f"m-{attempt}", body=body, dequeue_count=5),
                                    context=Context(f"inv-poison-{attempt}"))
        case = store.get(target.case_id)
        assert case is not None and case.state == "failed" and case.work_attempts == attempt
        if attempt < WORK_ATTEMPTS:
            assert case.work_wanted is not None and case.work_retry_at is not None, attempt
            assert "the scan timer retries it from" in case.transitions[-1].reason
            assert [m.case_id for m in stale_cases(env, now=case.work_retry_at)].count(target.case_id) == 1
            assert target.case_id not in [m.case_id for m in stale_cases(
                env, now=case.work_retry_at - timedelta(seconds=1))], "re-queued before its retry delay ran out"
    assert case.work_wanted is None and case.work_retry_at is None
    assert target.case_id not in [m.case_id for m in stale_cases(env, now=datetime.now(UTC) + timedelta(days=30))]
    shown = call("GET", "cases/{id}", route_params={"id": target.case_id})  # still visible, and says it gave up
    assert shown.status == 200 and json.loads(shown.text)["state"] == "failed"
    assert json.loads(shown.text)["outbox"] == {"wanted_since": None, "failed_passes": WORK_ATTEMPTS,
                                                 "retry_at": None, "approved_by": None, "gave_up": True}


def test_a_poisoned_message_leaves_a_case_another_invocation_holds_to_that_invocation(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer) -> None:
    """One actor per case, the poison worker included: while a re-queued message's worker holds the lease, the
    poison message does not fail the case under it (nor comment on its incident); once the lease is free, it does."""
    from shared.ledger.lease import CaseLease

    items = [parse_work_item(m) for m in _scan(functions)]
    store = CaseStore(env.cases)
    target = next(i for i in items if "compromised-signing-key" in store.get(i.case_id).rule_ids)  # type: ignore[union-attr]
    body = target.to_json().encode()
    functions["respond"](message=QueueMessage(id="m-8", body=body), context=Context("inv-1"))
    before = store.get(target.case_id)
    assert before is not None and before.state == "awaiting_approval"
    comments = len(_comments(simulator, incident_name_for(target.case_id)))
    holder = CaseLease(env.cases, target.case_id, owner="inv-requeued-worker")
    assert holder.claim().held
    functions["respond_poison"](message=QueueMessage(id="m-8", body=body, dequeue_count=5),
                                context=Context("inv-poison"))
    held = store.get(target.case_id)
    assert held is not None and (held.state, held.transitions) == (before.state, before.transitions)
    assert len(_comments(simulator, incident_name_for(target.case_id))) == comments
    assert CaseLease(env.cases, target.case_id, owner="someone-else").claim().holder == "inv-requeued-worker"
    holder.release()
    functions["respond_poison"](message=QueueMessage(id="m-8", body=body, dequeue_count=5),
                                context=Context("inv-poison-2"))
    failed = store.get(target.case_id)
    assert failed is not None and failed.state == "failed"
    assert CaseLease(env.cases, target.case_id, owner="after").claim().held, "the poison worker released its lease"


def test_a_malformed_respond_message_raises_so_the_host_retries_then_parks_it(
        env: Ledger, functions: dict[str, Callable[..., Any]]) -> None:
    from shared.core.errors import DataError

    with pytest.raises(DataError, match="not JSON"):
        functions["respond"](message=QueueMessage(id="bad", body=b"{oops"), context=Context())


def _put_incident(simulator: SimulatorServer, name: str) -> None:
    url = f"{simulator.url}{WORKSPACE}/providers/Microsoft.SecurityInsights/incidents/{name}?api-version=2025-09-01"
    body = json.dumps({"properties": {"title": "From an analytic rule", "severity": "Medium",
                                      "status": "New"}}).encode()
    request = urllib.request.Request(url, data=body, method="PUT", headers={
        "Authorization": "Bearer x", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):
        pass


def _trigger(user_id: str | None) -> dict[str, Any]:
    trigger = copy.deepcopy(json.loads(TRIGGER.read_text()))
    entities = trigger["object"]["properties"]["relatedEntities"]
    if user_id is None:
        trigger["object"]["properties"]["relatedEntities"] = []
    else:
        for entity in entities:
            if entity.get("kind") == "Account":
                entity["properties"]["aadUserId"] = user_id
    return trigger


def _post(functions: dict[str, Callable[..., Any]], body: bytes) -> tuple[int, Any]:
    """POST the trigger body, then let the respond worker run what the 202 queued (as the host would)."""
    request = func.HttpRequest("POST", "/api/sentinel/incident", body=body,
                               headers={"Content-Type": "application/json"})
    out = QueueOutput()
    response = functions["sentinel_incident"](req=request, work=out, context=Context("inv-http"))
    for index, message in enumerate(out.get()):
        functions["respond"](message=QueueMessage(id=f"m-{index}", body=message.encode()),
                             context=Context(f"inv-worker-{index}"))
    return response.status_code, json.loads(response.get_body())


def test_the_sentinel_path_is_idempotent_and_writes_back_to_that_incident(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer) -> None:
    trigger = _trigger(simulator.state.users()[3].id)
    name = trigger["object"]["name"]
    _put_incident(simulator, name)
    status, first = _post(functions, json.dumps(trigger).encode())
    assert status == 202, first
    assert first["accepted"] and len(first["case_ids"]) >= 1
    assert first["status_urls"] == [f"/api/cases/{case_id}" for case_id in first["case_ids"]]
    writes = len(simulator.state.writes)
    status, again = _post(functions, json.dumps(trigger).encode())  # the Logic App retries
    assert status == 202 and again["case_ids"] == first["case_ids"]
    assert len(simulator.state.writes) == writes  # the retry created nothing new
    incidents = [k for k in simulator.state.arm_resources if "/comments/" not in k]
    assert incidents == [f"{WORKSPACE}/providers/microsoft.securityinsights/incidents/{name}".lower()]
    assert len(_comments(simulator, name)) == len(first["case_ids"])
    case = CaseStore(env.cases).get(first["case_ids"][0])
    assert case is not None and case.sentinel_incident == name and case.state == "awaiting_approval"


def test_a_null_body_is_a_400_and_an_incident_without_entities_a_422_with_a_comment(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer) -> None:
    status, body = _post(functions, b"null")
    assert status == 400 and body["error"]["code"] == "bad_trigger" and body["invocation_id"] == "inv-http"
    trigger = _trigger(None)
    _put_incident(simulator, trigger["object"]["name"])
    status, body = _post(functions, json.dumps(trigger).encode())
    assert status == 422 and body["error"]["code"] == "not_actionable"
    assert len(_comments(simulator, trigger["object"]["name"])) == 1


@pytest.mark.parametrize("case_id", ["case-usr-0/../1", "case#1", "case?x", "a\\b", "case\x7f", "x" * 150 + "\x85y",
                                     "a\udfffb"])
def test_a_respond_message_whose_case_id_cannot_be_a_table_key_is_refused_before_storage(
        env: Ledger, functions: dict[str, Callable[..., Any]], case_id: str) -> None:
    """Table Storage refuses / \\ # ? and control characters in keys; the worker says so itself, as a DataError
    (retried, then parked as poison), instead of an HTTP 400 from the service surfacing as an error."""
    from shared.core.errors import DataError

    body = json.dumps({"version": 1, "case_id": case_id, "queued_at": "2026-03-02T12:00:00+00:00"}).encode()
    with pytest.raises(DataError, match="cannot be a table key"):
        functions["respond"](message=QueueMessage(id="bad-key", body=body), context=Context())


def test_every_ledger_read_checks_its_keys(env: Ledger) -> None:
    from shared.core.errors import DataError
    from shared.ledger.case_store import CaseStore

    with pytest.raises(DataError, match="cannot be a table key"):
        CaseStore(env.cases).get("case-usr-0/1")


@pytest.mark.parametrize("lost", ["message", "worker"])
def test_a_requeued_case_runs_in_the_mode_its_request_asked_for(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer,
        monkeypatch: pytest.MonkeyPatch, lost: str) -> None:
    """A manual dry run, with RESPONSE_MODE=auto: its message is lost (or its worker dies holding the lease), and
    the scan timer re-queues the case from its outbox mark. The re-queue must still be a dry run, for the same
    actor and run, not an automatic response in the configured mode."""
    from datetime import UTC, datetime, timedelta

    import shared.jobs.scan
    from shared.ledger.lease import CaseLease
    from tests.api.api_support import call

    monkeypatch.setenv("RESPONSE_MODE", "auto")
    _scan(functions)  # the demo logs' detections, recorded (and their messages dropped): the next scan adds none
    monkeypatch.setattr(shared.jobs.scan, "REQUEUE_AFTER", timedelta(0))  # every mark is stale at once
    victim = next(u for u in simulator.state.users() if not u.privileged and u.account_enabled)
    answer = call("POST", "respond", body={"reason": "checking a report", "users": [victim.id], "dry_run": True})
    assert answer.status == 202, answer.text
    [sent] = [parse_work_item(m) for m in answer.queued]  # ... and then lost: never delivered
    assert sent.mode == "dry-run"
    if lost == "worker":  # a worker took the case, then died: its lease ran out
        dead = CaseLease(env.cases, sent.case_id, owner="dead-worker",
                         clock=lambda: datetime.now(UTC) - timedelta(hours=1))
        assert dead.claim().held
    [requeued] = [item for item in map(parse_work_item, _scan(functions)) if item.case_id == sent.case_id]
    assert requeued.reason == "scan:requeue"
    assert (requeued.mode, requeued.actor, requeued.run) == (sent.mode, sent.actor, sent.run)
    message = QueueMessage(id="msg-requeued", body=requeued.to_json().encode(), dequeue_count=1)
    functions["respond"](message=message, context=Context("inv-requeue"))
    case = CaseStore(env.cases).get(sent.case_id)
    assert case is not None and case.state not in ("responding", "contained"), case.state
    assert simulator.state.writes_of() == [], "a dry run re-queued from its mark touched the tenant"
    assert case.work_wanted is None and case.work_request.mode is None  # the pass finished: the mark is cleared


def _deliver(functions: dict[str, Callable[..., Any]], message: str, invocation: str) -> None:
    functions["respond"](message=QueueMessage(id=f"msg-{invocation}", body=message.encode(), dequeue_count=1),
                         context=Context(invocation))


def _requeue(functions: dict[str, Callable[..., Any]], monkeypatch: pytest.MonkeyPatch, case_id: str, *,
             at: datetime) -> Any:
    """The scan timer's message for *case_id* when it fires at *at* (the respond worker keeps the real clock)."""
    import shared.jobs.triggers

    class At(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return at

    monkeypatch.setattr(shared.jobs.triggers, "datetime", At)
    try:
        items = [item for item in map(parse_work_item, _scan(functions)) if item.case_id == case_id]
    finally:
        monkeypatch.setattr(shared.jobs.triggers, "datetime", datetime)
    assert len(items) <= 1
    return items[0] if items else None


def test_a_failed_response_is_retried_after_a_backoff_then_left_failed_and_resumable_by_an_operator(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Graph refuses the revoke on every pass (as it would until an admin grants the permission). The first failed
    pass keeps the outbox mark, delayed by retry_delay(1); the scan retries it; after WORK_ATTEMPTS failed passes
    the mark is cleared, so no scan re-queues it again, and the case stays failed. Naming the user again in
    POST /respond resumes it with a fresh mark, and it is contained, each write sent once."""
    from shared.cases.model import WORK_ATTEMPTS, retry_delay
    from shared.jobs.scan import REQUEUE_AFTER, stale_cases
    from tests.api.api_support import call

    monkeypatch.setenv("RESPONSE_MODE", "auto")
    _scan(functions)  # the demo logs' detections, recorded (their messages dropped): the next scans add none
    victim = next(u for u in simulator.state.users() if not u.privileged and u.account_enabled)
    simulator.faults.fail(f"/users/{victim.id}/revokeSignInSessions", status=403, times=None, method="POST")
    body = {"reason": "token stolen", "users": [victim.id], "dry_run": False}
    answer = call("POST", "respond", body=body)
    assert answer.status == 202, answer.text
    [sent] = [parse_work_item(m) for m in answer.queued]
    store = CaseStore(env.cases)
    _deliver(functions, sent.to_json(), "inv-first")
    case = store.get(sent.case_id)
    assert case is not None and case.state == "failed", case
    assert case.work_wanted is not None and case.work_attempts == 1, "a failed pass dropped its outbox mark"
    assert case.work_retry_at == case.transitions[-1].at + retry_delay(1)
    waiting = case.work_wanted + REQUEUE_AFTER + timedelta(minutes=1)
    assert waiting < case.work_retry_at
    assert sent.case_id not in [m.case_id for m in stale_cases(env, now=waiting)], "re-queued during its backoff"
    assert sent.case_id in [m.case_id for m in stale_cases(env, now=case.work_retry_at)]

    for attempt in range(2, WORK_ATTEMPTS + 1):
        assert case.work_retry_at is not None
        assert _requeue(functions, monkeypatch, sent.case_id, at=case.work_retry_at - timedelta(seconds=1)) is None
        item = _requeue(functions, monkeypatch, sent.case_id, at=case.work_retry_at)
        assert item is not None and item.reason == "scan:requeue", attempt
        _deliver(functions, item.to_json(), f"inv-retry-{attempt}")
        case = store.get(sent.case_id)
        assert case is not None and (case.state, case.work_attempts) == ("failed", attempt)
        if attempt < WORK_ATTEMPTS:  # the waits double: 15, 30, 60 minutes
            assert case.work_retry_at == case.transitions[-1].at + retry_delay(attempt)
    assert case.work_wanted is None and case.work_retry_at is None, "the outbox did not give up"
    later = datetime.now(UTC) + timedelta(days=1)
    assert _requeue(functions, monkeypatch, sent.case_id, at=later) is None, "a case that gave up was re-queued"
    assert len(simulator.state.writes_of("revokeSignInSessions", victim.id)) == 0

    simulator.faults.clear()  # the permission is granted; the operator resumes the case
    again = call("POST", "respond", body=body)
    assert again.status == 202, again.text
    [resumed] = [parse_work_item(m) for m in again.queued]
    assert resumed.case_id == sent.case_id
    marked = store.get(sent.case_id)
    assert marked is not None and marked.work_wanted is not None and marked.work_attempts == 0
    _deliver(functions, resumed.to_json(), "inv-resume")
    case = store.get(sent.case_id)
    assert case is not None and case.state == "contained", case.transitions[-1]
    assert case.work_wanted is None
    assert len(simulator.state.writes_of("revokeSignInSessions", victim.id)) == 1


def test_a_requeued_approved_response_resumes_as_the_same_approved_response(
        env: Ledger, functions: dict[str, Callable[..., Any]], simulator: SimulatorServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Approval mode. An approver approves; the approved run fails at Graph. The approval was written on the case's
    outbox mark before anything acted, so the scan's re-queue carries the approver, actor and run id, and the
    worker finishes the approved response (not a new plan waiting for a second approval)."""
    from shared.respond.actions import ActionStore
    from tests.api.api_support import call

    monkeypatch.setenv("INSECURE_LOCAL_APPROVALS", "true")  # who approves is tested in tests/api/test_approvers.py
    _scan(functions)
    victim = next(u for u in simulator.state.users() if not u.privileged and u.account_enabled)
    answer = call("POST", "respond", body={"reason": "token stolen", "users": [victim.id], "dry_run": False})
    [sent] = [parse_work_item(m) for m in answer.queued]
    _deliver(functions, sent.to_json(), "inv-plan")
    store = CaseStore(env.cases)
    planned = store.get(sent.case_id)
    assert planned is not None and planned.state == "awaiting_approval" and planned.work_wanted is None

    approver = "lead@contoso.example"
    simulator.faults.fail(f"/users/{victim.id}/revokeSignInSessions", status=403, times=None, method="POST")
    approved = call("POST", "cases/{id}/approve", route_params={"id": sent.case_id}, invocation_id="inv-approve",
                    body={"approver": approver, "comment": "contain"})
    assert approved.status == 200, approved.text
    case = store.get(sent.case_id)
    assert case is not None and case.state == "failed"
    assert case.work_wanted is not None and case.work_request.approved_by == approver, case.work_request

    simulator.faults.clear()
    assert case.work_retry_at is not None
    item = _requeue(functions, monkeypatch, sent.case_id, at=case.work_retry_at)
    assert item is not None
    assert (item.approved_by, item.actor, item.run) == (approver, approver, f"approve:{sent.case_id}:{approver}")
    _deliver(functions, item.to_json(), "inv-requeued")
    case = store.get(sent.case_id)
    assert case is not None and case.state == "contained", case.transitions[-1]
    assert case.work_wanted is None and case.transitions[-1].reason.startswith(f"approved by {approver}")
    revoke = next(r for r in ActionStore(env.actions).for_case(sent.case_id) if r.step == "revoke_sessions")
    assert (revoke.phase, revoke.actor) == ("succeeded", approver)
    assert len(simulator.state.writes_of("revokeSignInSessions", victim.id)) == 1
