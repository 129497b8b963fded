"""token-replay-from-another-network: what its findings say, where the location came from, and the look-alikes
that must stay silent (another address in the same country, a CAE token 26 hours after its sign-in)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from shared.detect.ruleset import load_rules
from tests.support.rule_fixtures import only_evidence, rule_fixture, run_fixture

RULE = load_rules().get("token-replay-from-another-network")


def _case(kind: str, name: str) -> dict[str, Any]:
    return rule_fixture(RULE, kind, name)


def _evidence(case: dict[str, Any], folder: Path) -> dict[str, Any]:
    return only_evidence(RULE, case, folder)


def test_exchange_replay_from_another_country_names_country_source_and_mailbox(tmp_path: Path) -> None:
    evidence = _evidence(_case("positive", "exchange_token_replayed_from_another_country"), tmp_path)
    assert evidence["reason"] == "another country than the token's sign-in"
    assert evidence["use_country"] == "NL"
    assert evidence["use_location_source"] == "CloudAppEvents.CountryCode"
    assert evidence["sign_in_countries"] == ["US"]
    assert evidence["sign_in_addresses"] == ["203.0.113.10"]
    assert evidence["resource"] == "Exchange Online"
    assert evidence["operations"] == ["MailItemsAccessed"]
    assert evidence["mailboxes"] == ["adele@contoso.example"]


def test_graph_address_is_placed_by_sign_ins_and_the_evidence_says_so(tmp_path: Path) -> None:
    evidence = _evidence(_case("positive", "graph_token_replayed_from_an_address_placed_in_another_country"), tmp_path)
    assert evidence["use_country"] == "FR"
    assert evidence["use_asn"] == "16276"
    assert evidence["use_location_source"] == (
        "MicrosoftGraphActivityLogs carries no location; placed by sign-ins from this address")
    assert evidence["resource"] == "Microsoft Graph"
    assert evidence["operations"] == ["GET https://graph.microsoft.com/v1.0/me/messages"]
    assert evidence["mailboxes"] == []


def test_new_autonomous_system_in_the_same_country_fires(tmp_path: Path) -> None:
    evidence = _evidence(
        _case("positive", "graph_token_used_from_an_autonomous_system_the_user_never_signed_in_from"), tmp_path)
    assert evidence["reason"] == "an autonomous system none of the user's sign-ins came from"
    assert evidence["use_country"] == "US"
    assert evidence["use_asn"] == "14061"
    assert evidence["user_sign_in_asns"] == ["7922"]


def test_unplaced_graph_address_says_the_location_is_unknown(tmp_path: Path) -> None:
    evidence = _evidence(_case("positive", "graph_token_used_from_an_address_no_sign_in_placed"), tmp_path)
    assert evidence["reason"] == "an address no sign-in placed"
    assert evidence["use_country"] == ""
    assert evidence["use_location_source"] == (
        "MicrosoftGraphActivityLogs carries no location, and no sign-in came from this address")


def test_same_country_from_another_address_is_silent_and_another_country_is_not(tmp_path: Path) -> None:
    case = _case("negative", "same_country_from_another_address_is_normal")
    assert run_fixture(RULE, case, tmp_path / "same").findings == ()
    abroad = copy.deepcopy(case)
    abroad["tables"]["CloudAppEvents"][0]["CountryCode"] = "DE"
    assert len(run_fixture(RULE, abroad, tmp_path / "abroad").findings) == 1


def test_cae_token_26_hours_after_its_sign_in_is_still_within_its_life(tmp_path: Path) -> None:
    """26 hours after the sign-in the token is alive: the same country is silent, another country fires."""
    case = _case("negative", "cae_token_26_hours_later_from_the_same_country")
    assert run_fixture(RULE, case, tmp_path / "same").findings == ()
    abroad = copy.deepcopy(case)
    abroad["tables"]["CloudAppEvents"][0]["CountryCode"] = "NL"
    findings = run_fixture(RULE, abroad, tmp_path / "abroad").findings
    assert [f.token_id for f in findings] == ["uti-cae"]
