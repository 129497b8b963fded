"""Key history (issue 14 §5): the scan reads the key-drift snapshots, and ``unpublished-signing-key`` no longer
reports a token issued while its key was still published; a token issued after the key rotated out still is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.detect.hunt import HuntContext
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.history import RetiredKey, owners_of, retired_from_drift
from shared.detect.keys.intel import ENTRA_ISSUER_TEMPLATES, KeyIntelligence
from shared.detect.keys.jwks import PublishedKey
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import load_rules
from shared.devkit.demo_data.rows import token_validation_row
from shared.devkit.demo_data.tenant import DemoApp
from shared.devkit.demo_data.writer import TableWriters
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.scan import scan
from shared.ledger.connection import Ledger
from shared.ledger.key_snapshot_store import KeySnapshot, KeySnapshotStore, SnapshotKey

pytest_plugins = ("tests.support.azurite",)

TID = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b"
ISSUER = f"https://login.microsoftonline.com/{TID}/v2.0"
TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
SOURCE = "https://login.microsoftonline.com/common/discovery/v2.0/keys"
API = DemoApp(app_id="a1b2c3d4-0000-4000-8000-000000000001", display_name="Payroll API",
              sign_in_audience="AzureADMyOrg", identifier_uri=None, validates_tokens=True)
ROTATED = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def test_owners_follow_the_key_set_an_app_specific_set_counts_for_its_app_only() -> None:
    assert owners_of(None, SOURCE + "?appid=app-1") == ("appid=app-1",)
    assert owners_of(TEMPLATE, SOURCE) == (TEMPLATE,)
    assert owners_of(None, "jwks/common-v1.json") == ENTRA_ISSUER_TEMPLATES


def test_a_key_published_again_is_not_retired_and_the_latest_removal_counts() -> None:
    class Event:
        def __init__(self, at: datetime, *kids: str) -> None:
            self.source, self.issuer, self.seen_at = SOURCE, TEMPLATE, at
            self.removed = tuple(SnapshotKey(kid=kid) for kid in kids)

    retired = retired_from_drift([Event(ROTATED, "old", "back"), Event(ROTATED + timedelta(days=1), "old")],
                                 published_now=[f"{TEMPLATE}|back"])
    assert retired == (RetiredKey(owner=TEMPLATE, key_id="old", published_until=ROTATED + timedelta(days=1)),)


def _snapshot(kids: list[str], at: datetime) -> KeySnapshot:
    return KeySnapshot.observed(source=SOURCE, issuer=TEMPLATE, keys=[SnapshotKey(kid=k) for k in kids], fetched_at=at)


def _uses(folder: Path, *issued: datetime) -> None:
    with TableWriters(folder) as writers:
        for index, at in enumerate(issued):
            writers.write("TokenValidation_CL", token_validation_row(
                when=ROTATED + timedelta(minutes=50), app=API, issuer=ISSUER, tid=TID, kid="old-key",
                uti=f"uti-{index}", oid="0b8c7d6e-1111-4222-8333-944455556666", upn="ada@contoso.example",
                client_app_id=API.app_id, issued_at=at, lifetime=timedelta(hours=1), ip="203.0.113.10",
                user_agent="Mozilla/5.0"))


def test_the_scan_reads_the_key_history_from_the_snapshots(ledger: Ledger, tmp_path: Path) -> None:
    assert ledger.key_snapshots is not None
    store = KeySnapshotStore(ledger.key_snapshots)
    assert store.record(_snapshot(["old-key", "new-key"], ROTATED - timedelta(days=1))).kind == "baseline"
    assert store.record(_snapshot(["new-key"], ROTATED)).kind == "drift"
    # One token issued while old-key was published, one issued with it after it was rotated out.
    _uses(tmp_path, ROTATED - timedelta(minutes=20), ROTATED + timedelta(minutes=30))
    published = (PublishedKey(kid="new-key", x5t=None, issuer=TEMPLATE, not_before=None, not_after=None,
                              source=SOURCE),)
    context = HuntContext(keys=KeyIntelligence(published=published, compromised=load_compromised_keys()))
    workspace = LocalWorkspace.from_exports(tmp_path)
    try:
        report = scan(workspace, load_rules().select(["unpublished-signing-key"]), context=context, ledger=ledger,
                      policy=ScanPolicy(initial_lookback=timedelta(hours=3)), now=ROTATED + timedelta(hours=1))
    finally:
        workspace.close()
    assert report.complete, report.runs
    assert [f.token_id for f in report.findings] == ["uti-1"]


def test_offline_the_hunt_takes_its_key_history_from_earlier_jwks_copies(tmp_path: Path) -> None:
    import io
    import json

    from shared.cli.main import main

    logs = tmp_path / "logs"
    logs.mkdir()
    _uses(logs, ROTATED - timedelta(minutes=20), ROTATED + timedelta(minutes=30))
    now_file, then_file = tmp_path / "keys-now.json", tmp_path / "keys-then.json"
    now_file.write_text(json.dumps({"keys": [{"kid": "new-key", "issuer": TEMPLATE}]}))
    then_file.write_text(json.dumps({"keys": [{"kid": "new-key", "issuer": TEMPLATE},
                                              {"kid": "old-key", "issuer": TEMPLATE}]}))

    def hunt(*history: str) -> list[str]:
        out, err = io.StringIO(), io.StringIO()
        args = ["hunt", "--logs", str(logs), "--jwks", str(now_file), "--rules", "unpublished-signing-key",
                "--since", (ROTATED - timedelta(hours=1)).isoformat(),
                "--until", (ROTATED + timedelta(hours=2)).isoformat(), "--format", "json"]
        for item in history:
            args += ["--jwks-history", item]
        assert main(args, stdout=out, stderr=err) == 0, err.getvalue()
        return sorted(f["token_id"] for f in json.loads(out.getvalue()))

    assert hunt() == ["uti-0", "uti-1"]  # without history, both tokens carry a key nobody publishes
    assert hunt(f"{ROTATED.isoformat()}={then_file}") == ["uti-1"]  # old-key was published until ROTATED
    with pytest.raises(SystemExit) as refused:  # a copy without its time is a one-line usage error
        main(["hunt", "--logs", str(logs), "--jwks-history", str(then_file)])
    assert refused.value.code == 2
