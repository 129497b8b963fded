"""Every export layout a user holds, from fixtures written to Microsoft's documented shapes (tests/fixtures/README.md).

The fixture tree mixes all of them with files that are not logs. Each sign-in
source carries its own token id (``uti-A-data-export``, ``uti-B-diagnostic``...)
and the Graph activity log holds a call for each plus one forged token, so a
hunt finds exactly the forged one only if every layout was read right.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.cli.main import main
from shared.detect.logsources.base import CompleteResult
from shared.detect.logsources.local import LocalWorkspace

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exports"
WINDOW = ["--since", "2023-09-19T00:00:00Z", "--until", "2023-09-20T00:00:00Z"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def workspace() -> Iterator[LocalWorkspace]:
    loaded = LocalWorkspace.from_exports(FIXTURES)
    yield loaded
    loaded.close()


def rows(workspace: LocalWorkspace, kql: str) -> list[tuple[Any, ...]]:
    outcome = workspace.query(kql, parameters={}, timespan=None, label="test")
    assert isinstance(outcome, CompleteResult)
    return [tuple(row) for row in outcome.table.rows]


def _every_file(folder: Path) -> set[str]:
    return {Path(root, name).relative_to(folder).as_posix() for root, _, names in os.walk(folder) for name in names}


def test_inspect_json_accounts_for_every_file_exactly_once() -> None:
    code, out, err = run("inspect", "--logs", str(FIXTURES), "--format", "json")
    document = json.loads(out)
    assert list(document) == ["tables", "skipped"]
    assert all(list(entry) == ["table", "format", "files", "rows", "rows_without_time", "first", "last",
                               "unknown_columns"] for entry in document["tables"])
    loaded = [path for entry in document["tables"] for path in entry["files"]]
    skipped = [entry["path"] for entry in document["skipped"]]
    # graph/signins.json fills two tables (its pages hold interactive and non-interactive sign-ins)
    assert set(loaded) | set(skipped) == _every_file(FIXTURES)
    assert not set(loaded) & set(skipped) and len(skipped) == len(set(skipped))
    assert code == 1 and err == ""  # something was skipped


def test_inspect_names_the_table_layout_rows_and_time_range_of_each_format() -> None:
    _, out, _ = run("inspect", "--logs", str(FIXTURES), "--format", "json")
    tables = {entry["table"]: entry for entry in json.loads(out)["tables"]}
    assert set(tables) == {"SigninLogs", "AADNonInteractiveUserSignInLogs", "MicrosoftGraphActivityLogs",
                           "OfficeActivity"}
    assert tables["SigninLogs"]["format"] == "data-export, diagnostic-settings, graph-api, entra-portal, log-analytics"
    assert tables["SigninLogs"]["rows"] == 8 and tables["SigninLogs"]["rows_without_time"] == 0
    assert tables["SigninLogs"]["first"] == "2023-09-19T08:30:00.500000Z"
    assert tables["SigninLogs"]["last"] == "2023-09-19T13:10:00Z"
    assert tables["AADNonInteractiveUserSignInLogs"]["files"] == [
        "graph/signins.json", "portal/NonInteractiveSignIns_2023-09-19_2023-09-20.json"]
    assert tables["MicrosoftGraphActivityLogs"] | {"files": None} == {
        "table": "MicrosoftGraphActivityLogs", "format": "diagnostic-settings", "files": None, "rows": 9,
        "rows_without_time": 0, "first": "2023-09-19T12:00:00Z", "last": "2023-09-19T12:00:08Z",
        "unknown_columns": []}
    assert tables["OfficeActivity"]["format"] == "unified-audit-log"
    assert "AppAccessContext" in tables["OfficeActivity"]["unknown_columns"]
    # the data export's folder names (WorkspaceResourceId=, y=, m=...) are a path, never columns
    assert not {"WorkspaceResourceId", "y", "m", "d", "h"} & set(tables["SigninLogs"]["unknown_columns"])


def test_files_that_are_not_logs_are_skipped_with_a_reason_to_act_on() -> None:
    _, out, _ = run("inspect", "--logs", str(FIXTURES), "--format", "json")
    reasons = {entry["path"]: entry["reason"] for entry in json.loads(out)["skipped"]}
    assert reasons == {
        "apps.json": "an app catalogue (servicePrincipal objects), not a log: pass it to hunt with --apps",
        "keys/common-v1.json": "a JWKS key set, not a log: pass it to hunt with --jwks",
        "notes.txt": "not a log export: only .json, .jsonl, .ndjson, .csv (these optionally .gz) and .parquet are read",
        "export-summary.json": "not a recognised log export: name it after its Log Analytics table (SigninLogs.json), "
                               "or keep the Entra portal's or the storage container's own names",
    }


def test_every_sign_in_layout_lands_its_token_id(workspace: LocalWorkspace) -> None:
    found = rows(workspace, "union SigninLogs, AADNonInteractiveUserSignInLogs "
                            "| project Type, UniqueTokenIdentifier | order by UniqueTokenIdentifier asc")
    assert found == [
        ("SigninLogs", "uti-A-data-export"), ("SigninLogs", "uti-A2-split-blob"),
        ("SigninLogs", "uti-A3-hourly-gzip"), ("SigninLogs", "uti-B-diagnostic"),
        ("AADNonInteractiveUserSignInLogs", "uti-C-graph-api"), ("SigninLogs", "uti-C2-graph-page2"),
        ("SigninLogs", "uti-C3-graph-array"), ("SigninLogs", "uti-D-portal-csv"),
        ("AADNonInteractiveUserSignInLogs", "uti-E-portal-json"), ("SigninLogs", "uti-F-browser-copy"),
    ]


def test_data_export_keeps_seven_digit_times_and_blobs_missing_a_column(workspace: LocalWorkspace) -> None:
    found = rows(workspace, "SigninLogs | where UniqueTokenIdentifier startswith 'uti-A' "
                            "| project UniqueTokenIdentifier, TimeGenerated, Location | order by TimeGenerated asc")
    assert found == [
        ("uti-A3-hourly-gzip", datetime(2023, 9, 19, 8, 30, 0, 500000, tzinfo=UTC), "FR"),
        ("uti-A-data-export", datetime(2023, 9, 19, 10, 6, 1, 123456, tzinfo=UTC), "FR"),
        ("uti-A2-split-blob", datetime(2023, 9, 19, 10, 7, 44, tzinfo=UTC), ""),  # Location left out of this blob
    ]


def test_diagnostic_settings_properties_become_columns(workspace: LocalWorkspace) -> None:
    assert rows(workspace, "SigninLogs | where UniqueTokenIdentifier == 'uti-B-diagnostic' | project TimeGenerated, "
                           "UserPrincipalName, IPAddress, AADTenantId, Category, tostring(LocationDetails.city)") == [
        (datetime(2023, 9, 19, 11, 0, 12, 345678, tzinfo=UTC), "alex@contoso.example", "198.51.100.7",
         "72f988bf-0000-4000-8000-00000000c0de", "SignInLogs", "Berlin")]
    assert rows(workspace, "MicrosoftGraphActivityLogs | where SignInActivityId == 'uti-FORGED' | project "
                           "TimeGenerated, AadTenantId, ResponseStatusCode, RequestUri, Location, TokenIssuedAt") == [
        (datetime(2023, 9, 19, 12, 0, 8, tzinfo=UTC), "72f988bf-0000-4000-8000-00000000c0de", 200,
         "https://graph.microsoft.com/v1.0/me/messages", "France Central", datetime(2023, 9, 19, 10, 0, tzinfo=UTC))]


def test_graph_and_portal_rows_take_their_time_from_created_date_time(workspace: LocalWorkspace) -> None:
    assert rows(workspace, "union SigninLogs, AADNonInteractiveUserSignInLogs | where UniqueTokenIdentifier in "
                           "('uti-C-graph-api', 'uti-D-portal-csv') | project UniqueTokenIdentifier, TimeGenerated, "
                           "CreatedDateTime, UserPrincipalName, AppId | order by UniqueTokenIdentifier asc") == [
        ("uti-C-graph-api", datetime(2023, 9, 19, 9, 15, tzinfo=UTC), datetime(2023, 9, 19, 9, 15, tzinfo=UTC),
         "megan@contoso.example", "14d82eec-204b-4c2f-b7e8-296a70dab67e"),
        ("uti-D-portal-csv", datetime(2023, 9, 19, 13, 1, 2, tzinfo=UTC), datetime(2023, 9, 19, 13, 1, 2, tzinfo=UTC),
         "diego@contoso.example", "14d82eec-204b-4c2f-b7e8-296a70dab67e"),
    ]


def test_unified_audit_log_keeps_app_access_context(workspace: LocalWorkspace) -> None:
    found = rows(workspace, "OfficeActivity | project TimeGenerated, Operation, OfficeWorkload, Client_IPAddress, "
                            "ClientAppId, tostring(AppAccessContext.UniqueTokenId), "
                            "tostring(AppAccessContext.IssuedAtTime) | order by TimeGenerated asc")
    assert found == [
        (datetime(2023, 9, 12, 8, 0, tzinfo=UTC), "MailItemsAccessed", "Exchange", "203.0.113.10",
         "bc59ab01-8403-45c6-8796-ac3ef710b3e3", "uti-baseline", "2023-09-19T13:50:00"),
        (datetime(2023, 9, 19, 14, 0, tzinfo=UTC), "MailItemsAccessed", "Exchange", "203.0.113.10",
         "bc59ab01-8403-45c6-8796-ac3ef710b3e3", "uti-usual", "2023-09-19T13:50:00"),
        (datetime(2023, 9, 19, 14, 5, tzinfo=UTC), "MailItemsAccessed", "Exchange", "[2001:db8::7]:443",
         "d3590ed6-52b3-4102-aeff-aad2292ab01c", "uti-mail-odd", "2023-09-19T13:50:00"),
    ]


def test_hunt_over_every_format_finds_only_the_forged_token_and_the_odd_mail_app() -> None:
    code, out, err = run("hunt", "--logs", str(FIXTURES), *WINDOW, "--format", "json",
                         "--rules", "token-without-sign-in,mail-access-by-unexpected-app")
    findings = json.loads(out)
    assert [(f["rule_id"], f["token_id"] or f["app_id"]) for f in findings] == [
        ("mail-access-by-unexpected-app", "d3590ed6-52b3-4102-aeff-aad2292ab01c"),
        ("token-without-sign-in", "uti-FORGED"),
    ]
    assert "  token-without-sign-in: MicrosoftGraphActivityLogs=9, SigninLogs=8, AADNonInteractiveUserSignInLogs=2, " \
           "AADServicePrincipalSignInLogs=0, AADManagedIdentitySignInLogs=0\n" in err
    assert "  mail-access-by-unexpected-app: OfficeActivity=3\n" in err
    assert code == 0


def test_hunt_reports_a_rule_without_input_and_exits_1() -> None:
    code, out, err = run("hunt", "--logs", str(FIXTURES), *WINDOW, "--format", "json",
                         "--rules", "token-without-sign-in,unpublished-signing-key")
    assert json.loads(out)[0]["token_id"] == "uti-FORGED"
    assert "  unpublished-signing-key: TokenValidation_CL=0  (no input)\n" in err
    assert ("tokenwarden: no input: unpublished-signing-key: TokenValidation_CL has no rows in "
            "2023-09-18T22:00:00Z .. 2023-09-20T00:00:00Z; your apps write it when they validate tokens "
            "(see docs/deployment.md, 'Report validated tokens')\n") in err
    assert code == 1


def test_hunt_whose_window_misses_the_data_says_where_the_data_is() -> None:
    code, out, err = run("hunt", "--logs", str(FIXTURES), "--since", "2024-01-01T00:00:00Z",
                         "--until", "2024-01-02T00:00:00Z", "--rules", "token-without-sign-in")
    assert out.splitlines()[-2:] == [
        "0 findings from 1 rules (token-without-sign-in=no input)",
        "  NO INPUT: token-without-sign-in: MicrosoftGraphActivityLogs has no rows in "
        "2023-12-30T14:00:00Z .. 2024-01-02T00:00:00Z",  # the window widened by 6 h arrival delay + 28 h sign-ins
    ]
    assert ("tokenwarden: note: the window 2024-01-01T00:00:00Z .. 2024-01-02T00:00:00Z misses the loaded data "
            "entirely, which spans 2023-09-12T08:00:00Z .. 2023-09-19T14:05:00Z; give --since/--until inside it") in err
    assert code == 1


def test_inspect_exits_0_when_everything_loaded_with_a_time(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    shutil.copytree(FIXTURES / "graph", folder / "graph")
    code, out, _ = run("inspect", "--logs", str(folder))
    assert code == 0
    assert out.startswith("AADNonInteractiveUserSignInLogs ")
    assert "note: graph/signins.json: TimeGenerated taken from CreatedDateTime" in out


def test_inspect_exits_1_on_rows_without_time(tmp_path: Path) -> None:
    (tmp_path / "SigninLogs.jsonl").write_text('{"UserPrincipalName": "a"}\n', encoding="utf-8")
    code, out, _ = run("inspect", "--logs", str(tmp_path), "--format", "json")
    assert json.loads(out)["tables"][0]["rows_without_time"] == 1
    assert code == 1


def test_inspect_on_a_malformed_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "SigninLogs.jsonl").write_text('{"TimeGenerated": "2023-09-19T00:00:00Z"}\n{"broken": \n',
                                               encoding="utf-8")
    code, out, err = run("inspect", "--logs", str(tmp_path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and f"{tmp_path / 'SigninLogs.jsonl'}:2: malformed JSON" in err


def test_a_bom_before_a_json_array_loads(tmp_path: Path) -> None:
    (tmp_path / "SigninLogs.json").write_bytes(
        b"\xef\xbb\xbf" + json.dumps([{"TimeGenerated": "2023-09-19T00:00:00Z", "UserPrincipalName": "a"}]).encode())
    code, out, _ = run("inspect", "--logs", str(tmp_path), "--format", "json")
    assert (code, json.loads(out)["tables"][0]["rows"]) == (0, 1)


def test_a_file_duckdb_cannot_read_names_the_file_not_the_engine(tmp_path: Path) -> None:
    (tmp_path / "SigninLogs.parquet").write_bytes(b"PAR1 this is not parquet")
    code, _, err = run("inspect", "--logs", str(tmp_path))
    assert code == 2
    assert err == (f"tokenwarden: error: {tmp_path / 'SigninLogs.parquet'}: cannot load into SigninLogs: the file "
                   "does not read as a Log Analytics PARQUET export; check that it is a complete, unedited export "
                   "(see docs/formats.md)\n")


def test_docs_show_every_mapping_the_loader_applies() -> None:
    from shared.detect.logsources.duckdb import mappings
    from shared.detect.logsources.duckdb.exports import DIAGNOSTIC_CATEGORIES, PORTAL_DOWNLOADS

    text = (Path(__file__).resolve().parents[3] / "docs" / "formats.md").read_text(encoding="utf-8")
    envelope, dropped = mappings.diagnostic_renames("SigninLogs")
    pairs = [*mappings.graph_sign_in_renames().items(), *mappings.unified_audit_renames().items(),
             *mappings.portal_csv_renames().items(), *((k, v) for k, v in envelope.items() if k != "tenantId"),
             *DIAGNOSTIC_CATEGORIES.items()]
    missing = [(source, column) for source, column in pairs if f"| `{source}` | `{column}`" not in text]
    lowered = text.lower()
    missing += [(prefix, table) for prefix, table in PORTAL_DOWNLOADS.items()
                if f"| `{prefix}_` | `{table.lower()}` |" not in lowered]
    missing += [(field, "dropped") for field in dropped if f"| `{field}` | dropped" not in text]
    assert missing == []


def test_a_custom_tables_data_export_keeps_the_tables_own_spelling(tmp_path: Path) -> None:
    blob = tmp_path / "am-signinaudit_cl" / "WorkspaceResourceId=" / "y=2023" / "m=09" / "PT05M.json"
    blob.parent.mkdir(parents=True)
    blob.write_text(json.dumps({"TimeGenerated": "2023-09-19T00:00:00.0000000Z", "KeyId": "k",
                                "Type": "SignInAudit_CL"}) + "\n", encoding="utf-8")
    _, out, _ = run("inspect", "--logs", str(tmp_path), "--format", "json")
    assert [(entry["table"], entry["format"], entry["rows"]) for entry in json.loads(out)["tables"]] == [
        ("SignInAudit_CL", "data-export", 1)]
