"""office-token-without-sign-in: what its findings say, and the cases issue 14 names (the Outlook on the web
disguise, a CAE token 26 hours after its sign-in, a sign-in before the scan window)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from shared.core.timeparse import parse_instant
from shared.detect.ruleset import load_rules
from tests.support.rule_fixtures import load_fixture, run_fixture

RULE = load_rules().get("office-token-without-sign-in")
FIXTURES = RULE.folder / "fixtures"
OUTLOOK_ON_THE_WEB = "9199bf20-a13f-4107-85dc-02114787ef48"


def _case(kind: str, name: str) -> dict[str, Any]:
    return load_fixture(FIXTURES / kind / f"{name}.json")


def test_forged_token_through_outlook_on_the_web_names_resource_operation_and_mailbox(tmp_path: Path) -> None:
    case = _case("positive", "forged_token_reads_mail_through_outlook_on_the_webs_own_app_ids")
    report = run_fixture(RULE, case, tmp_path)
    assert [f.token_id for f in report.findings] == ["forged-uti"]
    evidence = report.findings[0].evidence
    assert evidence["resource"] == "Exchange Online"
    assert evidence["operations"] == ["MailItemsAccessed"]
    assert evidence["mailboxes"] == ["ceo@contoso.example"]
    assert evidence["sites"] == []
    assert evidence["client_app_ids"] == [OUTLOOK_ON_THE_WEB]
    assert evidence["token_sign_in"] is None
    assert report.findings[0].app_id == OUTLOOK_ON_THE_WEB


def test_the_disguise_is_a_pair_that_reads_mail_with_real_tokens(tmp_path: Path) -> None:
    """The fixture is only a disguise if the same app pair also reads mail with tokens their sign-ins issued:
    those uses stay silent while the forged one fires."""
    case = _case("positive", "forged_token_reads_mail_through_outlook_on_the_webs_own_app_ids")
    genuine = [row for row in case["tables"]["CloudAppEvents"] if row["RawEventData"]["AppId"] == OUTLOOK_ON_THE_WEB
               and row["RawEventData"]["AppAccessContext"]["UniqueTokenId"] != "forged-uti"]
    assert len(genuine) >= 3
    alone = copy.deepcopy(case)
    alone["tables"]["CloudAppEvents"] = genuine
    assert run_fixture(RULE, alone, tmp_path).findings == ()


def test_no_parameter_can_exempt_an_app() -> None:
    """No allow-list by app or client: only the token's own sign-in explains it."""
    assert not [name for name in RULE.parameter_names if "app" in name or "allow" in name]


def test_cae_token_26_hours_after_its_sign_in_is_explained_and_30_hours_is_not(tmp_path: Path) -> None:
    case = _case("negative", "cae_token_used_26_hours_after_its_sign_in")
    assert run_fixture(RULE, case, tmp_path / "26h").findings == ()
    expired = copy.deepcopy(case)
    expired["tables"]["AADNonInteractiveUserSignInLogs"][0]["TimeGenerated"] = "2026-11-18T21:00:00Z"
    findings = run_fixture(RULE, expired, tmp_path / "30h").findings
    assert [f.token_id for f in findings] == ["uti-cae"]
    assert parse_instant(findings[0].evidence["token_sign_in"]) == parse_instant("2026-11-18T21:00:00Z")


def test_sign_in_before_the_scan_window_explains_the_token(tmp_path: Path) -> None:
    case = _case("negative", "sign_in_before_the_window_inside_the_lookback")
    assert run_fixture(RULE, case, tmp_path / "explained").findings == ()
    unexplained = copy.deepcopy(case)
    unexplained["tables"]["SigninLogs"] = []
    assert len(run_fixture(RULE, unexplained, tmp_path / "unexplained").findings) == 1


def test_sharepoint_finding_names_the_site(tmp_path: Path) -> None:
    report = run_fixture(RULE, _case("positive", "sharepoint_file_downloaded_with_a_forged_token"), tmp_path)
    evidence = report.findings[0].evidence
    assert evidence["resource"] == "SharePoint Online"
    assert evidence["operations"] == ["FileDownloaded"]
    assert evidence["sites"] == ["https://contoso.sharepoint.com/sites/finance/"]
    assert evidence["mailboxes"] == []
