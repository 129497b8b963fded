"""The Actions table (Azurite): deterministic ids, intent then outcome, replays that never redo a finished step;
and the guardrails: protected principals and the blast radius."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.settings import load_settings
from shared.ledger.connection import Ledger
from shared.respond.actions import ActionStore, action_id
from shared.respond.guardrails import BlastRadius, Guardrails

pytest_plugins = ("tests.support.azurite",)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_action_ids_are_deterministic_and_distinct() -> None:
    assert action_id("case-1", "revoke_sessions", "User-A") == action_id("case-1", "revoke_sessions", "user-a")
    assert action_id("case-1", "revoke_sessions", "a") != action_id("case-1", "disable_user", "a")
    assert action_id("case-1", "revoke_sessions", "a") != action_id("case-2", "revoke_sessions", "a")


def test_intent_then_outcome_and_a_replay_keeps_the_outcome(ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    store = ActionStore(ledger.actions)
    common = {"mode": "auto", "invocation_id": "inv-1"}
    with caplog.at_level(logging.INFO, logger="tokenwarden.audit"):
        intent = store.record("case-1", "revoke_sessions", "user-a", phase="intent", detail={"why": "x"}, now=NOW,
                              **common)
        done = store.record("case-1", "revoke_sessions", "user-a", phase="succeeded", detail={"status": 200},
                            now=NOW + timedelta(seconds=1), **common)
        replay = store.record("case-1", "revoke_sessions", "user-a", phase="intent", detail={}, now=NOW + timedelta(
            minutes=5), mode="auto", invocation_id="inv-2")
    assert intent.action_id == done.action_id == replay.action_id
    assert intent.phase == "intent" and intent.attempts == 1
    assert replay.phase == "succeeded" and replay.invocation_id == "inv-1"  # the finished outcome stands
    assert [r.phase for r in store.for_case("case-1")] == ["succeeded"]
    logged = [r for r in caplog.records if r.name == "tokenwarden.audit"]
    assert len(logged) == 3 and all(r.case_id == "case-1" for r in logged)
    assert {r.invocation_id for r in logged} == {"inv-1", "inv-2"}


def test_a_failed_action_can_be_retried(ledger: Ledger) -> None:
    store = ActionStore(ledger.actions)
    store.record("case-2", "disable_user", "u", phase="failed", mode="auto", invocation_id="i", detail={}, now=NOW)
    again = store.record("case-2", "disable_user", "u", phase="intent", mode="auto", invocation_id="j", detail={},
                         now=NOW + timedelta(minutes=1))
    assert again.phase == "intent" and again.attempts == 1


def test_principals_actioned_in_the_last_hour(ledger: Ledger) -> None:
    store = ActionStore(ledger.actions)
    store.record("case-old", "revoke_sessions", "a", phase="succeeded", mode="auto", invocation_id="i", detail={},
                 now=NOW - timedelta(hours=2))
    store.record("case-new", "revoke_sessions", "b", phase="succeeded", mode="auto", invocation_id="i", detail={},
                 now=NOW - timedelta(minutes=10))
    store.record("case-planned", "revoke_sessions", "c", phase="planned", mode="dry-run", invocation_id="i",
                 detail={}, now=NOW - timedelta(minutes=5))
    assert store.principals_actioned_since(NOW - timedelta(hours=1)) == {"case-new"}


def _guardrails(**settings: str) -> Guardrails:
    return Guardrails.from_settings(load_settings(settings))


def test_protected_principals_match_object_id_or_upn_in_any_case() -> None:
    rails = _guardrails(PROTECTED_PRINCIPALS="BreakGlass@contoso.example, 11111111-aaaa-4bbb-8ccc-000000000001")
    assert rails.protected_reason([None, "breakglass@CONTOSO.example"])
    assert rails.protected_reason(["11111111-AAAA-4bbb-8ccc-000000000001"])
    assert rails.protected_reason(["someone@contoso.example", None]) is None


def test_blast_radius_per_run_and_per_hour() -> None:
    per_run = BlastRadius(_guardrails(BLAST_RADIUS_PER_RUN="2", BLAST_RADIUS_PER_HOUR="100"), actioned_this_hour=set())
    assert per_run.admit("c1") is None and per_run.admit("c2") is None
    assert per_run.admit("c1") is None  # the same principal again is not a new one
    reason = per_run.admit("c3")
    assert reason and "BLAST_RADIUS_PER_RUN=2" in reason
    per_hour = BlastRadius(_guardrails(BLAST_RADIUS_PER_RUN="10", BLAST_RADIUS_PER_HOUR="3"),
                           actioned_this_hour={"x", "y"})
    assert per_hour.admit("c1") is None
    reason = per_hour.admit("c2")
    assert reason and "BLAST_RADIUS_PER_HOUR=3" in reason
    assert per_hour.admit("x") is None  # already acted on this hour: continuing it adds no new principal


def test_deployments_default_to_approval_and_a_bounded_radius() -> None:
    rails = _guardrails()
    assert rails.mode == "approval" and rails.per_run == 25 and rails.per_hour == 100
    with pytest.raises(Exception, match="BLAST_RADIUS_PER_RUN is '0'"):
        _guardrails(BLAST_RADIUS_PER_RUN="0")
