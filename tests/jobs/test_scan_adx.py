"""The timer reads an Azure Data Explorer database when ADX_CLUSTER_URI is set, and records what the local scan does.

The cluster is duckdb-kql's Kusto REST server over the demo tenant (a loopback stand-in, so the wiring gives
it the local token); the ledger is Azurite.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shared.core.credentials import LocalCredential
from shared.core.errors import ConfigurationError
from shared.core.settings import load_settings
from shared.detect.logsources.adx import AdxSource
from shared.devkit.workspace_server.kusto_server import build_kusto_server, load_database
from shared.jobs.scan import run_scan
from shared.jobs.wiring import build_log_source
from shared.ledger.finding_store import FindingStore
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.ledgers import LedgerFactory, unique_table_names
from tests.support.servers import running

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")


@pytest.fixture(scope="module")
def cluster(demo_logs: DemoLogs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = load_database(demo_logs.folder, tmp_path_factory.mktemp("adx") / "Tokenwarden.duckdb")
    with running(build_kusto_server(database)) as server:
        yield server.url


def test_the_wiring_picks_the_cluster_with_the_local_token_for_loopback(cluster: str) -> None:
    source = build_log_source(load_settings({"ADX_CLUSTER_URI": cluster, "ADX_DATABASE": "Tokenwarden",
                                             "LOG_ANALYTICS_WORKSPACE_ID": "ignored-when-a-cluster-is-set"}))
    try:
        assert isinstance(source, AdxSource)
        assert source.description == f"Azure Data Explorer database Tokenwarden at {cluster}"
        assert isinstance(source._credential, LocalCredential)
    finally:
        source.close()


def test_a_cluster_without_a_database_is_refused_in_one_line() -> None:
    with pytest.raises(ConfigurationError, match="ADX_CLUSTER_URI is set but ADX_DATABASE is empty"):
        load_settings({"ADX_CLUSTER_URI": "https://adx.westeurope.kusto.windows.net"})


def test_a_timer_scan_of_the_cluster_records_what_the_local_scan_records(
        demo_logs: DemoLogs, cluster: str, storage_environment: dict[str, str], ledger_factory: LedgerFactory) -> None:
    now = DEMO_END + timedelta(minutes=5)
    base = demo_logs.environment(**storage_environment, SCAN_LOOKBACK="24h", SCAN_MAX_CHUNK="25h")
    recorded = []
    for environment in (base, {**base, "LOCAL_LOGS_DIR": "", "ADX_CLUSTER_URI": cluster,
                               "ADX_DATABASE": "Tokenwarden"}):
        ledger = ledger_factory(unique_table_names())  # one ledger per scan: each starts without checkpoints
        report = run_scan(load_settings(environment), now=now, ledger=ledger)
        assert report.complete, report.runs
        recorded.append(sorted((f.rule_id, f.row_key) for f in FindingStore(ledger.findings).all()))
    assert recorded[0] and recorded[1] == recorded[0]
    assert "Azure Data Explorer" in report.source
