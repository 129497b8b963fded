"""Rows that reach the workspace hours after they happened, after the scan's watermark has passed them, are found
exactly once: the rules select by arrival (``ingestion_time()``), and the scan windows by arrival too.

Exports carry each row's arrival in ``_TimeReceived``; the embedded workspace reads it as ``ingestion_time()``.
Against windows on ``TimeGenerated`` (the scan before this change) neither row below was ever read.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.detect.hunt import HuntContext
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import load_rules
from shared.devkit.demo_data.rows import graph_row, token_validation_row
from shared.devkit.demo_data.tenant import DemoApp
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.scan import ScanReport, scan
from shared.ledger.connection import Ledger
from shared.ledger.finding_store import FindingStore

pytest_plugins = ("tests.support.azurite",)

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)
TENANT = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
USER = "0b8c7d6e-1111-4222-8333-944455556666"
API = DemoApp(app_id="11111111-2222-4333-8444-555555555555", display_name="Payroll API",
              sign_in_audience="AzureADMyOrg", identifier_uri="api://payroll", validates_tokens=True)
RULES = load_rules().select(["compromised-signing-key", "token-without-sign-in"])


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _write(folder: Path, table: str, rows: list[dict[str, object]]) -> None:
    with (folder / f"{table}.jsonl").open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()}) + "\n")


@pytest.fixture
def late_exports(tmp_path: Path) -> Path:
    """A forged-key token used 1 h before T0 that arrives 1 h 50 min after it happened (inside the 2 h bound of
    TokenValidation_CL), and a Graph call with no sign-in that happened 4 h before T0 and arrives 5 h 30 min
    later (inside Graph's 6 h bound)."""
    happened = T0 - timedelta(hours=1)
    forged = token_validation_row(
        when=happened, app=API, issuer=f"https://login.microsoftonline.com/{TENANT}/v2.0", tid=TENANT,
        kid="1LTMzakihiRla_8z2BEJVXeWMqo", uti="late-forged-uti", oid=USER, upn="adele@contoso.example",
        client_app_id="22222222-3333-4444-8555-666666666666", issued_at=happened - timedelta(minutes=5),
        lifetime=timedelta(hours=1), ip="203.0.113.9", user_agent="late-agent",
    )
    forged["_TimeReceived"] = happened + timedelta(hours=1, minutes=50)
    _write(tmp_path, "TokenValidation_CL", [forged])
    used = T0 - timedelta(hours=4)
    call = graph_row(random.Random(1), when=used, tenant_id=TENANT, app_id=API.app_id, user_id=USER,
                     service_principal_id=None, ip="203.0.113.9", uti="late-graph-uti",
                     issued_at=used - timedelta(minutes=10), user_agent="late-agent")
    call["_TimeReceived"] = used + timedelta(hours=5, minutes=30)
    _write(tmp_path, "MicrosoftGraphActivityLogs", [call])
    return tmp_path


def _scan(workspace: LocalWorkspace, ledger: Ledger, now: datetime) -> ScanReport:
    context = HuntContext(keys=KeyIntelligence(published=(), compromised=load_compromised_keys()))
    return scan(workspace, RULES, context=context, ledger=ledger, policy=ScanPolicy(), now=now)


def test_rows_arriving_after_the_watermark_passed_them_are_found_exactly_once(late_exports: Path,
                                                                               ledger: Ledger) -> None:
    workspace = LocalWorkspace.from_exports(late_exports)
    try:
        first = _scan(workspace, ledger, T0)  # both rows happened before T0 but have not arrived yet
        assert first.findings == ()
        assert all(p.watermark_after == T0 - timedelta(minutes=5) for p in first.progress)
        new_by_tick = []
        for minutes in range(5, 3 * 60, 5):  # the timer every five minutes for three hours
            report = _scan(workspace, ledger, T0 + timedelta(minutes=minutes))
            assert report.complete
            new_by_tick.append(report.findings_new)
    finally:
        workspace.close()
    assert sum(new_by_tick) == 2  # each late row recorded once, however often the overlap re-reads it
    stored = {f.rule_id: f for f in FindingStore(ledger.findings).all()}
    assert set(stored) == {"compromised-signing-key", "token-without-sign-in"}
    forged = stored["compromised-signing-key"]
    assert forged.token_id == "late-forged-uti"
    assert forged.observation.first_seen == T0 - timedelta(hours=1)
    assert forged.first_arrived == T0 + timedelta(minutes=50)
    assert forged.observation.count == 1
    graph = stored["token-without-sign-in"]
    assert graph.token_id == "late-graph-uti"
    assert graph.first_arrived == T0 + timedelta(hours=1, minutes=30)
