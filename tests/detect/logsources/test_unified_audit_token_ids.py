"""A unified audit log export's Exchange and SharePoint records carry the token id in AppAccessContext; the loader
also puts them in CloudAppEvents (RawEventData), where office-token-without-sign-in reads it."""

from __future__ import annotations

import json
from pathlib import Path

from shared.core.timeparse import parse_instant
from shared.detect.hunt import HuntContext, run_hunt
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import RuleCollection, load_rules

TENANT = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"


def _audit(workload: str, operation: str, uti: str | None, address: str, record_id: str) -> dict[str, object]:
    record: dict[str, object] = {
        "CreationTime": "2026-11-20T03:00:00", "Id": record_id, "Operation": operation, "OrganizationId": TENANT,
        "RecordType": 50 if workload == "Exchange" else 6, "UserKey": "10032001A2B3C4D5", "UserType": 0,
        "Version": 1, "Workload": workload, "UserId": "adele@contoso.example", "ClientIPAddress": address,
        "MailboxOwnerUPN": "adele@contoso.example",
    }
    if uti is not None:
        record["AppAccessContext"] = {"AADSessionId": "s-1", "ClientAppId": "9199bf20-a13f-4107-85dc-02114787ef48",
                                      "IssuedAtTime": "2026-11-20T02:55:00", "UniqueTokenId": uti}
    # Search-UnifiedAuditLog | ConvertTo-Json: the record is a JSON string in AuditData.
    return {"CreationDate": "2026-11-20T03:00:00", "UserIds": "adele@contoso.example", "Operations": operation,
            "RecordType": "ExchangeItemAggregated", "AuditData": json.dumps(record)}


def _write(folder: Path) -> None:
    records = [
        _audit("Exchange", "MailItemsAccessed", "forged-uti", "195.26.87.219:443", "r1"),
        _audit("SharePoint", "FileDownloaded", "uti-signed-in", "[2001:db8::7]:443", "r2"),
        _audit("AzureActiveDirectory", "UserLoggedIn", None, "203.0.113.10", "r3"),
        _audit("Exchange", "Set-Mailbox", None, "203.0.113.10", "r4"),
    ]
    (folder / "audit_search.json").write_text(json.dumps(records), encoding="utf-8")
    (folder / "SigninLogs.jsonl").write_text(json.dumps({
        "TimeGenerated": "2026-11-20T02:55:00Z", "UniqueTokenIdentifier": "uti-signed-in", "ResultType": "0",
        "UserId": "0b8c7d6e-1111-4222-8333-944455556666", "IPAddress": "2001:db8::7"}) + "\n", encoding="utf-8")


def test_records_with_a_token_id_are_mirrored_into_cloud_app_events(tmp_path: Path) -> None:
    _write(tmp_path)
    workspace = LocalWorkspace.from_exports(tmp_path)
    try:
        outcome = workspace.query(
            "CloudAppEvents | project ApplicationId, Application, ActionType, IPAddress, "
            "TokenId = tostring(RawEventData.AppAccessContext.UniqueTokenId) | order by ApplicationId asc",
            parameters={}, timespan=None, label="t")
        office = workspace.query("OfficeActivity | count", parameters={}, timespan=None, label="t")
    finally:
        workspace.close()
    rows = outcome.table.rows  # type: ignore[union-attr]
    assert rows == (
        (20892, "Microsoft SharePoint Online", "FileDownloaded", "2001:db8::7", "uti-signed-in"),
        (20893, "Microsoft Exchange Online", "MailItemsAccessed", "195.26.87.219", "forged-uti"),
    )
    assert office.table.rows == ((4,),)  # type: ignore[union-attr]  # every record still fills OfficeActivity


def test_the_exchange_rule_finds_the_forged_token_in_an_audit_export(tmp_path: Path) -> None:
    _write(tmp_path)
    workspace = LocalWorkspace.from_exports(tmp_path)
    window = TimeRange(start=parse_instant("2026-11-20T00:00:00Z"), end=parse_instant("2026-11-20T06:00:00Z"))
    context = HuntContext(keys=KeyIntelligence(published=(), compromised=load_compromised_keys()))
    rule = load_rules().get("office-token-without-sign-in")
    try:
        report = run_hunt(workspace, RuleCollection((rule,)), window=window, context=context)
    finally:
        workspace.close()
    assert [(f.token_id, f.user_upn, f.ip_address) for f in report.findings] == [
        ("forged-uti", "adele@contoso.example", "195.26.87.219")]
    assert report.findings[0].evidence["mailboxes"] == ["adele@contoso.example"]
