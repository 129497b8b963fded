"""The sample exports: known columns only, deterministic, and planted cases that point at real rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.detect.tables import load_table_schemas
from shared.devkit.demo_data.generate import generate_demo_data

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    generate_demo_data(folder, users=20, days=2, seed=5, end=END)
    return folder


def _rows(folder: Path, table: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / f"{table}.jsonl").read_text().splitlines()]


def test_every_written_column_is_in_the_table_schema(demo: Path) -> None:
    schemas = load_table_schemas()
    for path in demo.glob("*.jsonl"):
        known = set(schemas[path.stem].column_names)
        written = set().union(*(row.keys() for row in _rows(demo, path.stem)))
        assert written <= known, (path.stem, sorted(written - known))


def test_same_seed_same_data(tmp_path: Path, demo: Path) -> None:
    generate_demo_data(tmp_path, users=20, days=2, seed=5, end=END)
    for path in demo.glob("*.jsonl"):
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_benign_proportions_look_like_a_tenant(demo: Path) -> None:
    interactive = len(_rows(demo, "SigninLogs"))
    non_interactive = len(_rows(demo, "AADNonInteractiveUserSignInLogs"))
    assert non_interactive > 3 * interactive  # most sign-ins are token refreshes
    mail = [r for r in _rows(demo, "OfficeActivity") if r["Operation"] == "MailItemsAccessed"]
    pairs = {(r["AppId"], r["ClientAppId"]) for r in mail}
    assert 3 <= len(pairs) <= 4  # a few Outlook clients, plus the one planted pair


def test_mail_reads_reach_both_tables_with_the_token_in_defender_xdr(demo: Path) -> None:
    """Each MailItemsAccessed record is delivered by the Office 365 connector and by Defender XDR; only the latter
    carries the token's uti (RawEventData.AppAccessContext.UniqueTokenId), and it matches a sign-in's."""
    office = [r for r in _rows(demo, "OfficeActivity") if r["Operation"] == "MailItemsAccessed"]
    cloud = [r for r in _rows(demo, "CloudAppEvents") if r["ActionType"] == "MailItemsAccessed"]
    assert len(cloud) == len(office) - 5  # the planted unexpected-app pair is in OfficeActivity only
    assert {r["ApplicationId"] for r in cloud} == {20893}
    signed_in = {r["UniqueTokenIdentifier"] for table in ("SigninLogs", "AADNonInteractiveUserSignInLogs")
                 for r in _rows(demo, table)}
    used = [r["RawEventData"]["AppAccessContext"].get("UniqueTokenId") for r in cloud]
    assert used.count(None) == 3  # the stolen session's three reads: Exchange had no token to log
    assert sum(uti in signed_in for uti in used) >= len(used) - 6  # nor does the forged token's three


def test_a_users_own_mail_reads_share_the_session_the_stolen_one_is_read_from_abroad(demo: Path) -> None:
    """Every record carries AppAccessContext.AADSessionId; a user's own reads carry their device's one session, and
    the planted session replay reads in the victim's session from another country."""
    cloud = _rows(demo, "CloudAppEvents")
    sessions: dict[str, set[str]] = {}
    for row in cloud:
        context = row["RawEventData"]["AppAccessContext"]
        sessions.setdefault(str(row["AccountObjectId"]), set()).add(context["AADSessionId"])
    # One session per user, but the forged Storm-0558 token's reads: a forger's sid is no device's.
    assert sum(len(s) > 1 for s in sessions.values()) == 1
    planted = json.loads((demo / "planted.json").read_text())["cases"]
    victim = next(c["user_upn"] for c in planted
                  if c["rule_id"] == "session-replay-from-another-network" and c["kind"] == "attack")
    reads = [r for r in cloud if r["RawEventData"]["UserId"] == victim]
    assert len({r["RawEventData"]["AppAccessContext"]["AADSessionId"] for r in reads}) == 1
    assert {r["CountryCode"] for r in reads} == {"NL", "RO"}


def test_every_planted_case_names_rows_that_exist(demo: Path) -> None:
    planted = json.loads((demo / "planted.json").read_text())["cases"]
    tokens = {str(r.get("TokenId")) for r in _rows(demo, "TokenValidation_CL")}
    tokens |= {str(r.get("SignInActivityId")) for r in _rows(demo, "MicrosoftGraphActivityLogs")}
    tokens |= {str(r["RawEventData"]["AppAccessContext"].get("UniqueTokenId")) for r in _rows(demo, "CloudAppEvents")}
    users = {str(r.get("UserId")) for r in _rows(demo, "OfficeActivity")}
    assert {case["kind"] for case in planted} == {"attack", "lookalike"}
    for case in planted:
        assert case["token_id"] in tokens or case["user_upn"] in users, case


def test_side_files_describe_the_tenant(demo: Path) -> None:
    apps = json.loads((demo / "apps.json").read_text())
    audiences = {app["signInAudience"] for app in apps}
    assert {"AzureADMyOrg", "AzureADandPersonalMicrosoftAccount"} <= audiences
    tenant = json.loads((demo / "tenant.json").read_text())
    assert len(tenant["users"]) == 20
    assert any(user["privileged"] for user in tenant["users"])
