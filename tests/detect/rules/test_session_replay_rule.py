"""session-replay-from-another-network: what its findings say about the session and both places, and the
look-alikes that must stay silent (another address in the same country, travel the user's own sign-ins show,
a session whose sign-in fell before the window)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from shared.detect.ruleset import load_rules
from tests.support.rule_fixtures import only_evidence, rule_fixture, run_fixture

RULE = load_rules().get("session-replay-from-another-network")


def _case(kind: str, name: str) -> dict[str, Any]:
    return rule_fixture(RULE, kind, name)


def _evidence(case: dict[str, Any], folder: Path) -> dict[str, Any]:
    return only_evidence(RULE, case, folder)


def test_replay_names_the_session_both_places_and_the_mailbox(tmp_path: Path) -> None:
    evidence = _evidence(_case("positive", "session_replayed_from_another_country"), tmp_path)
    assert evidence["reason"] == "another country than any of the user's sign-ins"
    assert evidence["session_id"] == "sess-1"
    assert evidence["use_country"] == "NL"
    assert evidence["use_isp"] == "M247 Ltd"
    assert evidence["use_location_source"] == ("country: CloudAppEvents.CountryCode; autonomous system: unknown "
                                               "(no sign-in came from this address)")
    assert evidence["user_sign_in_countries"] == ["US"]
    assert evidence["resource"] == "Exchange Online"
    assert evidence["operations"] == ["MailItemsAccessed"]
    assert evidence["mailboxes"] == ["adele@contoso.example"]
    assert evidence["token_ids"] == ["uti-stolen"]
    # Both places of the session: the user's own read from home, first, and the replay.
    places = {(p["address"], p["country"], str(p["at"])[:19]) for p in evidence["session_places"]}
    assert places == {("203.0.113.10", "US", "2026-11-20T01:05:00"), ("195.26.87.219", "NL", "2026-11-20T02:00:00")}
    assert str(evidence["session_first_seen"]).startswith("2026-11-20T01:05:00")


def test_a_sign_in_placing_the_address_in_a_new_autonomous_system_fires_in_the_same_country(tmp_path: Path) -> None:
    evidence = _evidence(
        _case("positive", "session_used_from_an_autonomous_system_the_user_never_signed_in_from"), tmp_path)
    assert evidence["use_country"] == "US"
    assert evidence["use_location_source"] == ("country: CloudAppEvents.CountryCode; autonomous system: placed by "
                                               "sign-ins from this address")


def test_an_empty_country_code_is_reported_as_unknown(tmp_path: Path) -> None:
    case = _case("positive", "session_used_from_an_autonomous_system_the_user_never_signed_in_from")
    case["tables"]["CloudAppEvents"][0]["CountryCode"] = ""
    evidence = _evidence(case, tmp_path)
    assert evidence["use_location_source"].startswith("country: unknown (CloudAppEvents.CountryCode is empty)")


def test_same_country_from_another_address_is_silent_and_another_country_is_not(tmp_path: Path) -> None:
    case = _case("negative", "same_country_from_another_address_is_normal")
    assert run_fixture(RULE, case, tmp_path / "same").findings == ()
    abroad = copy.deepcopy(case)
    abroad["tables"]["CloudAppEvents"][1]["CountryCode"] = "DE"
    assert len(run_fixture(RULE, abroad, tmp_path / "abroad").findings) == 1


def test_travel_is_explained_by_the_users_own_sign_in_and_fires_without_it(tmp_path: Path) -> None:
    case = _case("negative", "travel_the_users_own_sign_ins_explain")
    assert run_fixture(RULE, case, tmp_path / "travel").findings == ()
    unexplained = copy.deepcopy(case)
    unexplained["tables"]["AADNonInteractiveUserSignInLogs"].pop()  # no sign-in from Germany
    findings = run_fixture(RULE, unexplained, tmp_path / "unexplained").findings
    assert [f.evidence["use_country"] for f in findings] == ["DE"]


def test_a_sign_in_before_the_window_still_explains_and_the_history_bounds_it(tmp_path: Path) -> None:
    """The session's sign-in, 26 hours before the window (a CAE token's life), explains a use from its country;
    the same use from another country fires."""
    case = _case("negative", "session_whose_sign_in_fell_before_the_window")
    assert run_fixture(RULE, case, tmp_path / "same").findings == ()
    abroad = copy.deepcopy(case)
    abroad["tables"]["CloudAppEvents"][0]["CountryCode"] = "NL"
    assert len(run_fixture(RULE, abroad, tmp_path / "abroad").findings) == 1


def test_records_without_a_session_are_not_read(tmp_path: Path) -> None:
    case = _case("positive", "session_replayed_from_another_country")
    for row in case["tables"]["CloudAppEvents"]:
        del row["RawEventData"]["AppAccessContext"]["AADSessionId"]
    assert run_fixture(RULE, case, tmp_path).findings == ()


def test_a_record_without_a_token_id_says_none_was_logged(tmp_path: Path) -> None:
    case = _case("positive", "session_replayed_from_another_country")
    for row in case["tables"]["CloudAppEvents"][1:]:
        del row["RawEventData"]["AppAccessContext"]["UniqueTokenId"]
    assert _evidence(case, tmp_path)["token_ids"] == ["(none logged)"]
