"""The merge rule: overlapping windows never double count, disjoint ones add up, severity only rises."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from shared.cases.merge import (
    MAX_FINDING_REFS,
    Observation,
    absorb,
    bounded_union,
    merge_observation,
    new_case,
    sightings,
)
from shared.cases.principal import Principal
from tests.support.findings import T0, make_finding


def obs(first: int, last: int, count: int) -> Observation:
    return Observation(first_seen=T0 + timedelta(minutes=first), last_seen=T0 + timedelta(minutes=last), count=count)


def test_a_disjoint_observation_adds_up_whichever_arrives_first() -> None:
    assert merge_observation(obs(0, 10, 3), obs(11, 20, 2)) == obs(0, 20, 5)
    assert merge_observation(obs(11, 20, 2), obs(0, 10, 3)) == obs(0, 20, 5)


def test_an_overlapping_observation_takes_the_larger_count() -> None:
    assert merge_observation(obs(0, 10, 3), obs(8, 20, 2)) == obs(0, 20, 3)
    assert merge_observation(obs(0, 10, 3), obs(0, 10, 3)) == obs(0, 10, 3)


def _observe(events: list[int], start: int, end: int) -> Observation | None:
    inside = [e for e in events if start <= e < end]
    return obs(min(inside), max(inside), len(inside)) if inside else None


@st.composite
def scans(draw: st.DrawFn) -> tuple[list[int], list[tuple[int, int]]]:
    """Event minutes, and windows that each start at most `overlap` before the previous end (as scans do),
    stored in order or in any order."""
    events = draw(st.lists(st.integers(0, 600), min_size=1, max_size=40))
    overlap = draw(st.integers(0, 30))
    windows, end = [], 0
    while end < 601:
        length = draw(st.integers(1, 120))
        start = max(0, end - draw(st.integers(0, overlap)))
        windows.append((start, max(end, start) + length))
        end = windows[-1][1]
    repeats = draw(st.lists(st.sampled_from(windows), max_size=3))  # idempotent re-scans of old windows
    in_order = windows + repeats
    # Concurrent and catch-up scans may store an older window after a newer one.
    return events, in_order if draw(st.booleans()) else list(draw(st.permutations(in_order)))


@given(scans())
def test_re_reading_overlaps_never_counts_an_event_twice_and_keeps_times_exact(
        case: tuple[list[int], list[tuple[int, int]]]) -> None:
    events, windows = case
    stored: Observation | None = None
    best_single = 0
    for start, end in windows:
        seen = _observe(events, start, end)
        if seen is None:
            continue
        best_single = max(best_single, seen.count)
        stored = seen if stored is None else merge_observation(stored, seen)
    assert stored is not None
    assert best_single <= stored.count <= len(events)
    assert stored.first_seen == T0 + timedelta(minutes=min(events))
    assert stored.last_seen == T0 + timedelta(minutes=max(events))


@given(st.lists(st.integers(0, 600), min_size=1, max_size=40), st.lists(st.integers(1, 599), max_size=8))
def test_disjoint_windows_count_exactly(events: list[int], cuts: list[int]) -> None:
    bounds = [0, *sorted(set(cuts)), 601]
    stored: Observation | None = None
    for start, end in itertools.pairwise(bounds):
        seen = _observe(events, start, end)
        if seen is not None:
            stored = seen if stored is None else merge_observation(stored, seen)
    assert stored is not None and stored.count == len(events)


def test_rows_of_one_window_with_one_identity_combine_and_add_up() -> None:
    rows = [make_finding(token="t1", ip="1.1.1.1", count=2, first=T0 + timedelta(minutes=5)),
            make_finding(token="t1", ip="2.2.2.2", count=3, first=T0, last=T0 + timedelta(minutes=9)),
            make_finding(token="t2", count=1)]
    combined = sightings(rows)
    assert [s.identity.parts for s in combined] == [("token", "t1"), ("token", "t2")]
    first = combined[0]
    assert first.observation == Observation(first_seen=T0, last_seen=T0 + timedelta(minutes=9), count=5)
    assert first.ip_addresses == ("2.2.2.2", "1.1.1.1")
    assert first.finding.ip_address == "2.2.2.2"  # the earliest row represents the finding


def test_absorbing_the_same_findings_twice_changes_nothing() -> None:
    batch = sightings([make_finding(oid="u1", token="t1", severity="Medium")])
    case = new_case(case_id="c-1", principal=Principal("user", "u1"), generation=1, sightings_=batch, at=T0)
    again, delta = absorb(case, batch, at=T0 + timedelta(hours=1))
    assert again == case
    assert (delta.refs_added, delta.severity_raised, delta.changed) == (0, False, False)


def test_severity_only_rises_and_times_widen() -> None:
    case = new_case(case_id="c-1", principal=Principal("user", "u1"), generation=1,
                    sightings_=sightings([make_finding(oid="u1", token="t1", severity="Medium")]), at=T0)
    lower, delta = absorb(case, sightings([make_finding(oid="u1", token="t2", severity="Low",
                                                        first=T0 + timedelta(hours=2))]), at=T0)
    assert lower.severity == "Medium" and not delta.severity_raised and delta.refs_added == 1
    assert lower.last_seen == T0 + timedelta(hours=2) and lower.first_seen == T0
    higher, delta = absorb(lower, sightings([make_finding(oid="u1", token="t3", severity="High")]), at=T0)
    assert higher.severity == "High" and delta.severity_raised
    assert higher.token_ids == ("t1", "t2", "t3")


def test_references_are_bounded_and_the_overflow_is_flagged() -> None:
    many = sightings([make_finding(oid="u1", token=f"t{i}") for i in range(MAX_FINDING_REFS + 5)])
    case = new_case(case_id="c-1", principal=Principal("user", "u1"), generation=1, sightings_=many, at=T0)
    assert len(case.finding_refs) == MAX_FINDING_REFS
    assert case.more_findings


def test_bounded_union_keeps_order_and_skips_blanks() -> None:
    assert bounded_union(("a", "b"), ("b", "", "c", "d"), limit=3) == ("a", "b", "c")
