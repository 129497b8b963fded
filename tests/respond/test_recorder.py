"""The one recorder every step runs under (Azurite): skip what is final, record what cannot run, plan in a dry
run, guard before the intent, hand an interrupted intent to the step, record the outcome. And the registry the
plan, the engine, the policy loader (tests/cases/policy) and the key jobs read the steps from.

The step run here is a small :class:`ResponseStep` written for the test: it counts its acts and does what the
test asks, so the recorder's sequence can be seen step by step without a tenant.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.ledger_trips import RoundTrips
from shared.core.errors import TokenwardenError, UpstreamError
from shared.core.settings import load_settings
from shared.ledger.connection import Ledger, open_ledger
from shared.ledger.lease import LeaseLostError
from shared.respond.actions import ActionStore
from shared.respond.recorder import DRY_RUN_REASON, StepRecorder
from shared.respond.steps.base import Mechanisms, ResponseStep, Resume, StepCall, Unavailable
from shared.respond.steps.registry import ACTING_STEPS, REPORTING_STEPS, STEP_NAMES, STEPS, step_named

pytest_plugins = ("tests.support.azurite",)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
STEPS_DIR = Path(__file__).resolve().parents[2] / "shared" / "respond" / "steps"


@dataclass
class CountingStep(ResponseStep):
    """Acts by counting; raises *error* when set; cannot run while *blocked* is set."""

    error: Exception | None = None
    blocked: Unavailable | None = None
    resumes: list[Resume] = field(default_factory=list)

    name = "counting_step"

    def unavailable(self, call: StepCall) -> Unavailable | None:
        return self.blocked

    async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
        self.resumes.append(resume)
        if self.error is not None:
            raise self.error
        return {"changed": True, "acts": len(self.resumes)}


def _recorder(ledger: Ledger, mode: str = "auto", guard: Any = None) -> StepRecorder:
    return StepRecorder(store=ActionStore(ledger.actions), mode=mode, invocation_id="inv-1", actor="test",
                        guard=guard)


def _run(recorder: StepRecorder, step: ResponseStep, plan: Mapping[str, Any] | None = None,
         now: datetime = NOW) -> Any:
    call = StepCall(case_id="case-1", target="user-a", tools=Mechanisms())
    return asyncio.run(recorder.run(step, call, plan=plan or {"location": "policy.yaml:3:5"}, now=now))


def test_intent_is_recorded_before_the_act_and_the_outcome_after(ledger: Ledger) -> None:
    seen: list[str] = []
    store = ActionStore(ledger.actions)

    class Observing(CountingStep):
        async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
            record = store.get(call.case_id, self.name, call.target)
            seen.append(record.phase if record else "nothing")
            return await super().act(call, resume)

    outcome = _run(_recorder(ledger), Observing())
    assert seen == ["intent"]
    assert outcome.phase == "succeeded" and outcome.detail == {"changed": True, "acts": 1}
    stored = store.get("case-1", "counting_step", "user-a")
    assert stored is not None and stored.phase == "succeeded" and stored.attempts == 1 and stored.actor == "test"


def test_a_final_record_is_not_run_again_and_is_marked_replayed(ledger: Ledger) -> None:
    step = CountingStep()
    first = _run(_recorder(ledger), step)
    again = _run(_recorder(ledger), step, now=NOW + timedelta(minutes=5))
    assert len(step.resumes) == 1
    assert again.replayed and not first.replayed
    assert (again.phase, dict(again.detail)) == (first.phase, dict(first.detail))


def test_a_failure_is_recorded_and_retried_by_the_next_run(ledger: Ledger) -> None:
    step = CountingStep(error=UpstreamError("graph answered 503", status=503))
    failed = _run(_recorder(ledger), step)
    assert failed.phase == "failed" and failed.detail == {"error": "graph answered 503"}
    step.error = None
    retried = _run(_recorder(ledger), step, now=NOW + timedelta(minutes=1))
    assert retried.phase == "succeeded" and len(step.resumes) == 2
    assert step.resumes[1].resumed is False  # a failed record is an outcome, not an interrupted intent


def test_an_error_that_is_not_tokenwardens_is_not_swallowed(ledger: Ledger) -> None:
    with pytest.raises(ZeroDivisionError):
        _run(_recorder(ledger), CountingStep(error=ZeroDivisionError("bug")))
    record = ActionStore(ledger.actions).get("case-1", "counting_step", "user-a")
    assert record is not None and record.phase == "intent"  # the intent stands: the next run reads back


@pytest.mark.parametrize(("blocked", "key"), [(("skipped", "NOTIFY_WEBHOOK_URL is not set"), "reason"),
                                              (("failed", "Microsoft Graph is not configured"), "error")])
def test_a_step_that_cannot_run_is_recorded_with_why_and_never_acts(ledger: Ledger, blocked: Unavailable,
                                                                     key: str) -> None:
    step = CountingStep(blocked=blocked)
    outcome = _run(_recorder(ledger), step)
    assert step.resumes == []
    assert outcome.phase == blocked[0] and outcome.detail == {key: blocked[1]}


def test_a_dry_run_records_the_plan_and_never_acts_or_guards(ledger: Ledger) -> None:
    guarded: list[str] = []

    async def guard(case_id: str) -> None:
        guarded.append(case_id)

    step = CountingStep()
    outcome = _run(_recorder(ledger, mode="dry-run", guard=guard), step, plan={"apps": ["app-1"]})
    assert step.resumes == [] and guarded == []
    assert outcome.phase == "planned" and outcome.detail == {"apps": ["app-1"], "reason": DRY_RUN_REASON}


def test_the_guard_runs_before_the_intent_and_a_refusal_writes_nothing(ledger: Ledger) -> None:
    async def lost(case_id: str) -> None:
        raise LeaseLostError(f"case {case_id}: the lease was taken over")

    step = CountingStep()
    with pytest.raises(LeaseLostError):
        _run(_recorder(ledger, guard=lost), step)
    assert step.resumes == []
    assert ActionStore(ledger.actions).get("case-1", "counting_step", "user-a") is None


def test_an_intent_without_an_outcome_is_handed_to_the_step_with_its_time(ledger: Ledger) -> None:
    earlier = NOW - timedelta(minutes=7)
    ActionStore(ledger.actions).record("case-1", "counting_step", "user-a", phase="intent", mode="auto",
                                       invocation_id="inv-0", detail={}, now=earlier)
    step = CountingStep()
    outcome = _run(_recorder(ledger), step)
    assert step.resumes == [Resume(resumed=True, since=earlier)]
    assert outcome.phase == "succeeded"
    stored = ActionStore(ledger.actions).get("case-1", "counting_step", "user-a")
    assert stored is not None and stored.attempts == 2


def test_a_plan_never_hides_an_intent_that_may_have_reached_the_tenant(ledger: Ledger) -> None:
    """A planning pass (dry-run, or a case held for its approver) over a step left at intent keeps the intent,
    so the run that follows still reads the target back before it re-sends."""
    earlier = NOW - timedelta(minutes=7)
    store = ActionStore(ledger.actions)
    store.record("case-1", "counting_step", "user-a", phase="intent", mode="auto", invocation_id="inv-0", detail={},
                 now=earlier)
    step = CountingStep()
    _run(_recorder(ledger, mode="dry-run"), step)
    stored = store.get("case-1", "counting_step", "user-a")
    assert stored is not None and stored.phase == "intent" and stored.invocation_id == "inv-0"
    outcome = _run(_recorder(ledger), step)
    assert step.resumes == [Resume(resumed=True, since=earlier)]
    assert outcome.phase == "succeeded"


def test_the_intent_records_the_plan_and_whether_it_resumes(ledger: Ledger) -> None:
    intents: list[Mapping[str, Any]] = []
    store = ActionStore(ledger.actions)

    class Observing(CountingStep):
        async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
            record = store.get(call.case_id, self.name, call.target)
            intents.append(record.detail if record else {})
            return await super().act(call, resume)

    _run(_recorder(ledger), Observing(), plan={"location": "policy.yaml:9:7"})
    assert intents == [{"location": "policy.yaml:9:7", "resumed": False}]
    # A reporting step records its plan alone (a report is keyed by its run, and resending it is safe).
    assert step_named("notify").intent_detail({"location": "x"}, Resume(resumed=True, since=NOW)) == {"location": "x"}


# --- the registry ------------------------------------------------------------------------------------------------
def test_the_playbook_vocabulary_is_the_registry() -> None:
    assert STEP_NAMES == ("revoke_sessions", "confirm_compromised", "disable_user", "refresh_app_key_cache",
                          "sentinel_incident", "notify")
    assert set(ACTING_STEPS) | set(REPORTING_STEPS) == set(STEP_NAMES)
    assert REPORTING_STEPS == ("sentinel_incident", "notify")
    assert "publish_untrusted_keys" in STEPS and "publish_untrusted_keys" not in STEP_NAMES


@pytest.mark.parametrize("name", sorted(STEPS))
def test_each_step_is_one_class_in_the_module_named_after_it(name: str) -> None:
    step = STEPS[name]
    assert step.name == name
    assert (STEPS_DIR / f"{name}.py").is_file(), f"step {name} has no module of its own"
    module = importlib.import_module(f"shared.respond.steps.{name}")
    assert type(step) in vars(module).values()


def test_an_unknown_step_is_refused_with_the_names_there_are() -> None:
    with pytest.raises(TokenwardenError, match="no response step 'reboot_tenant'; steps are revoke_sessions"):
        step_named("reboot_tenant")



# --- one case's steps through a journal: one read, an outcome written with the next intent ------------------

@pytest.fixture
def counted(storage_environment: dict[str, str], ledger_names: Any,
            ledger_factory: Any) -> Iterator[tuple[Ledger, RoundTrips]]:
    """The test's ledger tables through a client whose every request is counted (bench/ledger_trips.py)."""
    ledger_factory()  # creates the tables, and drops them afterwards
    trips = RoundTrips()
    ledger = open_ledger(load_settings(storage_environment), names=ledger_names,
                         client_options=trips.client_options())
    try:
        yield ledger, trips
    finally:
        ledger.close()


def _run_two_steps(recorder: StepRecorder, first: ResponseStep, second: ResponseStep,
                   seen: list[str] | None = None) -> list[Any]:
    async def both() -> list[Any]:
        journal = recorder.journal("case-1")
        try:
            return [await recorder.run(step, StepCall(case_id="case-1", target="user-a", tools=Mechanisms()),
                                       plan={"location": "policy.yaml:3:5"}, now=NOW, journal=journal)
                    for step in (first, second)]
        finally:
            await asyncio.to_thread(journal.flush)

    return asyncio.run(both())


class SecondStep(CountingStep):
    name = "second_step"


def test_a_journal_reads_once_and_writes_an_outcome_with_the_next_intent_in_one_transaction(
        counted: tuple[Ledger, RoundTrips]) -> None:
    ledger, trips = counted
    store = ActionStore(ledger.actions)
    phases_seen_by_second: list[str | None] = []

    class Observing(SecondStep):
        async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
            for name in ("counting_step", "second_step"):
                record = store.get(call.case_id, name, call.target)
                phases_seen_by_second.append(record.phase if record else None)
            return await super().act(call, resume)

    trips.reset()
    outcomes = _run_two_steps(_recorder(ledger), CountingStep(), Observing())
    assert [o.phase for o in outcomes] == ["succeeded", "succeeded"]
    # When the second step acts, the first's outcome and its own intent are both stored (they went together).
    assert phases_seen_by_second == ["succeeded", "intent"]
    counts = dict(trips.counts)
    observed_reads = counts.pop("Actions/case read")  # the observer's own reads
    assert observed_reads == 2
    # One query, the first intent, one $batch (outcome 1 + intent 2), the last outcome alone: 4 round trips.
    assert counts == {"Actions query": 1, "Actions insert": 1, "batch": 1, "Actions/case write": 1}
    stored = {r.step: (r.phase, r.attempts) for r in store.for_case("case-1")}
    assert stored == {"counting_step": ("succeeded", 1), "second_step": ("succeeded", 1)}


def test_a_journal_whose_rows_changed_meanwhile_writes_nothing_blind_and_loses_nothing(ledger: Ledger) -> None:
    """Another writer stores the second step's record between the journal's read and its transaction: the
    transaction fails as a whole (nothing of it stored) and each record is then written after a fresh read."""
    store = ActionStore(ledger.actions)

    class Interloper(CountingStep):
        async def act(self, call: StepCall, resume: Resume) -> dict[str, Any]:
            store.record(call.case_id, "second_step", call.target, phase="refused", mode="auto",
                         invocation_id="someone-else", detail={"reason": "racing writer"}, now=NOW)
            return await super().act(call, resume)

    second = SecondStep()
    outcomes = _run_two_steps(_recorder(ledger), Interloper(), second)
    assert [o.phase for o in outcomes] == ["succeeded", "succeeded"] and len(second.resumes) == 1
    stored = {r.step: (r.phase, r.invocation_id) for r in store.for_case("case-1")}
    assert stored == {"counting_step": ("succeeded", "inv-1"), "second_step": ("succeeded", "inv-1")}


def test_a_journal_never_holds_an_intent_and_flushes_the_last_outcome(ledger: Ledger) -> None:
    store = ActionStore(ledger.actions)
    journal = store.journal("case-1")
    assert journal.get("counting_step", "user-a") is None
    journal.record("counting_step", "user-a", phase="intent", mode="auto", invocation_id="inv-1", detail={},
                   now=NOW, hold=True)
    record = store.get("case-1", "counting_step", "user-a")
    assert record is not None and record.phase == "intent"  # asked to hold, an intent is written at once
    held = journal.record("counting_step", "user-a", phase="succeeded", mode="auto", invocation_id="inv-1",
                          detail={"changed": True}, now=NOW, hold=True)
    assert held.phase == "succeeded"
    record = store.get("case-1", "counting_step", "user-a")
    assert record is not None and record.phase == "intent"  # held: not stored yet
    journal.flush()
    record = store.get("case-1", "counting_step", "user-a")
    assert record is not None and record.phase == "succeeded" and dict(record.detail) == {"changed": True}
