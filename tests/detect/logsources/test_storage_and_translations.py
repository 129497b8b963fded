"""Bounded memory, the on-disk workspace reused across hunts, column selection, and the translation cache."""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.cli.main import main
from shared.core.errors import ConfigurationError
from shared.detect.apps import read_apps_file
from shared.detect.hunt import HuntContext, run_hunt
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.keys.jwks import read_jwks_file
from shared.detect.logsources.base import TimeRange
from shared.detect.logsources.duckdb.columns_used import columns_used
from shared.detect.logsources.duckdb.storage import Storage, parse_memory_limit
from shared.detect.logsources.duckdb.translations import TranslationCache
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import load_rules
from shared.devkit.demo_data.generate import generate_demo_data

END = datetime(2026, 11, 20, tzinfo=UTC)
WINDOW = TimeRange(start=END - timedelta(days=1), end=END)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "logs"
    generate_demo_data(folder, users=12, days=2, end=END)
    return folder


def _context(folder: Path) -> HuntContext:
    published = tuple(key for path in sorted((folder / "jwks").glob("*.json")) for key in read_jwks_file(path))
    return HuntContext(keys=KeyIntelligence(published=published, compromised=load_compromised_keys()),
                       apps=read_apps_file(folder / "apps.json"))


def _findings(workspace: LocalWorkspace, folder: Path) -> list[tuple[str, str, str]]:
    report = run_hunt(workspace, load_rules(), window=WINDOW, context=_context(folder))
    assert report.complete
    return sorted((f.rule_id, f.token_id or "", f.user_object_id or "") for f in report.findings)


def test_a_hunt_over_the_columns_its_rules_name_finds_what_a_full_load_finds(demo: Path) -> None:
    full = LocalWorkspace.from_exports(demo)
    pruned = LocalWorkspace.from_exports(demo, columns=columns_used(load_rules()))
    try:
        expected = _findings(full, demo)
        assert expected and {rule for rule, _, _ in expected} >= {"compromised-signing-key", "token-without-sign-in"}
        assert _findings(pruned, demo) == expected
        assert pruned.report is not None and full.report is not None
        assert pruned.report.tables == full.report.tables
    finally:
        full.close()
        pruned.close()


def test_the_memory_limit_is_applied_and_a_bad_one_refused_in_one_line(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workspace = LocalWorkspace.from_exports(demo, storage=Storage(memory_limit=parse_memory_limit("300MiB")))
    try:
        outcome = workspace.run_received("print m = 1", timespan=None, label="m")
        assert outcome.table.rows == ((1,),)  # type: ignore[union-attr]
        with workspace._cursor("m") as cursor:
            limit = cursor.execute("SELECT current_setting('memory_limit')").fetchone()
        assert limit is not None and str(limit[0]).startswith(("300.0 MiB", "314.5 MB", "300"))
    finally:
        workspace.close()
    with pytest.raises(ConfigurationError, match="not a size"):
        parse_memory_limit("lots")
    with pytest.raises(SystemExit) as exited:  # argparse's own usage error: one line on stderr, exit 2
        main(["hunt", "--logs", str(demo), "--memory-limit", "lots"], stdout=io.StringIO(), stderr=io.StringIO())
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "--memory-limit: 'lots' is not a size" in err and "Traceback" not in err


def test_a_saved_workspace_is_reused_until_a_file_changes(demo: Path, tmp_path: Path) -> None:
    storage = Storage(workspace_dir=tmp_path / "ws")
    columns = columns_used(load_rules())
    first = LocalWorkspace.from_exports(demo, storage=storage, columns=columns)
    expected = _findings(first, demo)
    first.close()
    assert not first.reused
    second = LocalWorkspace.from_exports(demo, storage=storage, columns=columns)
    try:
        assert second.reused and second.report == first.report
        assert _findings(second, demo) == expected
        assert second.translations.translated == 0  # every rule's translation came from the first hunt's disk
    finally:
        second.close()
    wider = LocalWorkspace.from_exports(demo, storage=storage)  # every column: more than was saved
    wider.close()
    assert not wider.reused
    touched = demo / "SigninLogs.jsonl"
    stat = touched.stat()
    os.utime(touched, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    third = LocalWorkspace.from_exports(demo, storage=storage)
    third.close()
    assert not third.reused
    with pytest.raises(ConfigurationError, match="inside the logs folder"):
        LocalWorkspace.from_exports(demo, storage=Storage(workspace_dir=demo / "cache"))


def test_a_rule_is_translated_once_for_every_window(demo: Path, tmp_path: Path) -> None:
    cache = TranslationCache(tmp_path / "translations")
    workspace = LocalWorkspace.from_exports(demo)
    workspace._translations = cache
    try:
        rule = load_rules().select(["token-without-sign-in"])
        counts = []
        for hours in range(4):
            window = TimeRange(start=END - timedelta(hours=24 - hours), end=END - timedelta(hours=hours))
            report = run_hunt(workspace, rule, window=window, context=_context(demo))
            counts.append(len(report.findings))
        assert cache.translated == 1
        fresh = TranslationCache(tmp_path / "translations")
        workspace._translations = fresh
        last = TimeRange(start=END - timedelta(hours=21), end=END - timedelta(hours=3))
        again = run_hunt(workspace, rule, window=last, context=_context(demo))
        assert fresh.translated == 0 and len(again.findings) == counts[3]
    finally:
        workspace.close()
