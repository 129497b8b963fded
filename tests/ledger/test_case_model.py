"""The case lifecycle: allowed moves, refused moves, and the record every move leaves."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from shared.cases.merge import new_case, sightings
from shared.cases.model import ALLOWED_TRANSITIONS, CASE_STATES, Case, InvalidTransition, transition
from shared.cases.principal import Principal
from tests.support.findings import make_finding


def _case(t0: datetime) -> Case:
    return new_case(case_id="case-usr-x-1", principal=Principal("user", "u1"), generation=1,
                    sightings_=sightings([make_finding(oid="u1", token="t1")]), at=t0)


def test_a_new_case_records_its_opening(t0: datetime) -> None:
    case = _case(t0)
    assert case.state == "new"
    assert [(t.from_state, t.to_state) for t in case.transitions] == [(None, "new")]
    assert "compromised-signing-key" in case.transitions[0].reason


def test_the_happy_path_is_recorded_with_time_and_reason(t0: datetime) -> None:
    case = _case(t0)
    path = ["enriched", "awaiting_approval", "responding", "contained", "closed"]
    for minute, state in enumerate(path, start=1):
        case = transition(case, state, reason=f"step {state}", at=t0 + timedelta(minutes=minute))  # type: ignore[arg-type]
    assert case.state == "closed" and not case.is_open
    assert [t.to_state for t in case.transitions] == ["new", *path]
    assert case.transitions[-1].at == t0 + timedelta(minutes=5)
    assert case.transitions[-1].reason == "step closed"
    assert case.updated_at == t0 + timedelta(minutes=5)


@pytest.mark.parametrize(("start", "target"), [
    ("closed", "new"), ("closed", "responding"), ("new", "contained"), ("responding", "closed"),
    ("new", "awaiting_approval"), ("responding", "containment_breached"), ("enriched", "containment_breached"),
])
def test_moves_the_lifecycle_forbids_are_refused_with_a_clear_message(t0: datetime, start: str,
                                                                      target: str) -> None:
    case = replace(_case(t0), state=start)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition, match=f"is {start}; it may move to .*not {target}"):
        transition(case, target, reason="try", at=t0)  # type: ignore[arg-type]


def test_a_move_needs_a_reason_and_a_real_state(t0: datetime) -> None:
    with pytest.raises(InvalidTransition, match="needs a reason"):
        transition(_case(t0), "enriched", reason="  ", at=t0)
    with pytest.raises(InvalidTransition, match="not a case state"):
        transition(_case(t0), "paused", reason="x", at=t0)  # type: ignore[arg-type]


def test_every_state_is_in_the_table_and_closed_is_final() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(CASE_STATES)
    assert ALLOWED_TRANSITIONS["closed"] == frozenset()
    assert all(targets <= set(CASE_STATES) for targets in ALLOWED_TRANSITIONS.values())


def test_only_a_contained_case_can_be_breached_and_a_breached_one_stays_open(t0: datetime) -> None:
    case = replace(_case(t0), state="contained")
    breached = transition(case, "containment_breached", reason="containment breached: token t1", at=t0)
    assert breached.is_open and breached.transitions[-1].from_state == "contained"
    assert ALLOWED_TRANSITIONS["containment_breached"] == frozenset({"responding", "closed"})
