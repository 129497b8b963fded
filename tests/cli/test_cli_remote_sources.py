"""``tokenwarden hunt`` against a workspace endpoint or a cluster finds exactly what ``--logs`` finds.

The workspace is ``tokenwarden workspace serve`` run as a real process, the cluster duckdb-kql's Kusto REST
server (:mod:`shared.devkit.workspace_server.kusto_server`); both are loopback, so the CLI must choose the
local token for them as the timer does (:func:`shared.jobs.wiring.build_log_source`), and no Azure
credential is ever tried.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cli.main import main
from shared.devkit.workspace_server.kusto_server import build_kusto_server, load_database
from tests.support.servers import running

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE_ID = "5b3c2a10-4e5f-4a6b-9c8d-7e6f5a4b3c2d"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    code, _, _ = run("demo-data", "--out", str(folder), "--users", "20", "--days", "2", "--seed", "5")
    assert code == 0
    return folder


def common(folder: Path) -> list[str]:
    """Everything but the source: the demo's key sets and apps, and its last day."""
    end = json.loads((folder / "planted.json").read_text())["end"]
    return ["--jwks", str(folder / "jwks" / "organizations.json"), "--jwks", str(folder / "jwks" / "consumers.json"),
            "--apps", str(folder / "apps.json"), "--until", end, "--since", _minus_24h(end), "--format", "json"]


def _minus_24h(iso: str) -> str:
    from datetime import timedelta

    from shared.core.timeparse import parse_instant

    return (parse_instant(iso) - timedelta(hours=24)).isoformat()


@pytest.fixture(scope="module")
def expected(demo: Path) -> list[dict[str, object]]:
    code, out, err = run("hunt", "--logs", str(demo), *common(demo))
    assert code == 0, err
    findings: list[dict[str, object]] = json.loads(out)
    assert len(findings) >= 7
    return findings


@pytest.fixture(scope="module")
def workspace_endpoint(demo: Path) -> Iterator[str]:
    """``tokenwarden workspace serve`` over the demo, as a user runs it; its URL read from what it prints."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    process = subprocess.Popen([sys.executable, "-m", "shared.cli.main", "workspace", "serve", "--logs", str(demo),
                                "--port", "0", "--workspace-id", WORKSPACE_ID],
                               cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/v1/workspaces/", line)
        assert match, line
        yield match.group(1)
    finally:
        process.terminate()
        process.wait()


def test_hunt_on_a_served_workspace_finds_what_logs_finds(demo: Path, expected: list[dict[str, object]],
                                                          workspace_endpoint: str) -> None:
    code, out, err = run("hunt", "--workspace-id", WORKSPACE_ID, "--endpoint", workspace_endpoint, *common(demo))
    assert code == 0, err
    assert json.loads(out) == expected


def test_hunt_honours_log_analytics_endpoint(demo: Path, expected: list[dict[str, object]],
                                             workspace_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_ANALYTICS_ENDPOINT", workspace_endpoint)
    code, out, err = run("hunt", "--workspace-id", WORKSPACE_ID, *common(demo))
    assert code == 0, err
    assert json.loads(out) == expected


def test_hunt_on_a_cluster_finds_what_logs_finds(demo: Path, expected: list[dict[str, object]],
                                                 tmp_path: Path) -> None:
    database = load_database(demo, tmp_path / "Tokenwarden.duckdb")
    with running(build_kusto_server(database)) as server:
        code, out, err = run("hunt", "--cluster", server.url, "--database", "Tokenwarden", *common(demo))
    assert code == 0, err
    assert json.loads(out) == expected


def test_hunt_help_documents_every_source_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["hunt", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--workspace-id", "--endpoint", "--cluster", "--database", "LOG_ANALYTICS_ENDPOINT"):
        assert option in text


@pytest.mark.parametrize(("argv", "message"), [
    (["hunt", "--cluster", "https://adx.westeurope.kusto.windows.net"], "--cluster needs --database"),
    (["hunt", "--logs", ".", "--database", "Tokenwarden"], "--database goes with --cluster"),
    (["hunt", "--logs", ".", "--endpoint", "http://127.0.0.1:9"], "--endpoint goes with --workspace-id"),
    (["hunt", "--cluster", "http://adx.example", "--database", "Tokenwarden"], "must be an https URL"),
    (["hunt", "--workspace-id", WORKSPACE_ID, "--endpoint", "http://la.example"], "must be an https URL"),
])
def test_bad_source_options_are_one_line_and_exit_2(argv: list[str], message: str) -> None:
    code, _, err = run(*argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
