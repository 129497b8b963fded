"""The production path (real LogsQueryClient, parameters rendered as declare defaults) finds what DuckDB finds.

The real azure-monitor-query client talks HTTPS to ``workspace serve`` over the
same exported logs; both hunts must return identical findings for every rule.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from azure.core.credentials import AccessToken

from shared.detect.apps import read_apps_file
from shared.detect.hunt import HuntContext, HuntReport, run_hunt
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.keys.jwks import read_jwks_file
from shared.detect.logsources.base import TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.logsources.log_analytics import LogAnalyticsSource
from shared.detect.ruleset import load_rules
from shared.devkit.demo_data.generate import generate_demo_data
from shared.devkit.workspace_server.server import build_server

WORKSPACE_ID = "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class StaticCredential:
    """A stand-in for Entra: the local endpoint checks that a bearer token is sent, not who signed it."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("local-test-token", int(datetime.now(UTC).timestamp()) + 3600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parity")
    generate_demo_data(folder, users=20, days=3, seed=21, end=END)
    return folder


@pytest.fixture(scope="module")
def context(demo: Path) -> HuntContext:
    published = tuple(key for path in sorted((demo / "jwks").glob("*.json")) for key in read_jwks_file(path))
    return HuntContext(keys=KeyIntelligence(published=published, compromised=load_compromised_keys()),
                       apps=read_apps_file(demo / "apps.json"))


@pytest.fixture(scope="module")
def served(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    ca = trustme.CA()
    certs = tmp_path_factory.mktemp("tls")
    server_pem, ca_pem = certs / "server.pem", certs / "ca.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca.cert_pem.write_to_path(str(ca_pem))
    workspace = LocalWorkspace.from_exports(demo)
    server = build_server(workspace, workspace_id=WORKSPACE_ID, certfile=server_pem)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", ca_pem
    finally:
        server.shutdown()
        server.server_close()
        workspace.close()


def _canonical(report: HuntReport) -> list[str]:
    return sorted(json.dumps(f.to_json(), sort_keys=True, default=str) for f in report.findings)


def test_real_logs_query_client_gets_the_same_findings(demo: Path, context: HuntContext,
                                                        served: tuple[str, Path]) -> None:
    window = TimeRange(start=END - timedelta(hours=24), end=END)
    rules = load_rules()
    local = LocalWorkspace.from_exports(demo)
    try:
        expected = run_hunt(local, rules, window=window, context=context)
    finally:
        local.close()
    endpoint, ca_pem = served
    remote = LogAnalyticsSource(WORKSPACE_ID, credential=StaticCredential(), endpoint=endpoint,
                                client_options={"connection_verify": str(ca_pem)})
    try:
        actual = run_hunt(remote, rules, window=window, context=context)
    finally:
        remote.close()
    assert expected.complete and actual.complete, actual.runs
    assert len(expected.findings) >= 11
    assert _canonical(actual) == _canonical(expected)
