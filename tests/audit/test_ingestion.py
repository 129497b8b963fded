"""The TokenwardenAudit_CL stream: action records uploaded with the real azure-monitor-ingestion client to the
simulator's Logs Ingestion endpoint, and recorded in the Actions table (Azurite) whatever the upload does."""

from __future__ import annotations

import asyncio
import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.audit.ingestion import AUDIT_COLUMNS, AUDIT_STREAM, INGESTION_SCOPE, AuditSink, audit_row
from shared.core.credentials import local_token
from shared.core.errors import ConfigurationError
from shared.core.settings import load_settings
from shared.devkit.simulator import SimulatorServer, TenantState
from shared.devkit.simulator.ingestion import MAX_CALL_BYTES, deployment_streams, ingestion_key
from shared.ledger.connection import Ledger
from shared.respond.actions import ActionStore
from shared.respond.transport.retry import RetryPolicy
from tests.support.graph import StaticCredential, serving

pytest_plugins = ("tests.support.azurite",)

ROOT = Path(__file__).resolve().parents[2]
RULE = "dcr-00000000000000000000000000000001"
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, max_total_seconds=10, base_backoff=0.01, max_backoff=0.05)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    state = TenantState(tenant_id="aaaaaaaa-0000-0000-0000-000000000002")
    state.declare_data_collection_rule(RULE, deployment_streams())  # the DCR data-collection.bicep declares
    with serving(state) as server:
        yield server


def _sink(simulator: SimulatorServer, **options: Any) -> AuditSink:
    return AuditSink(endpoint=simulator.url, rule_id=RULE, credential=StaticCredential(),
                     retry=options.pop("retry", FAST), timeout=5.0, **options)


def _ingested(simulator: SimulatorServer) -> list[dict[str, Any]]:
    with simulator.state.lock:
        return list(simulator.state.ingested.get(ingestion_key(RULE, AUDIT_STREAM), []))


def _record(store: ActionStore, case: str, phase: str, *, minutes: int = 0, target: str = "user-a") -> None:
    store.record(case, "revoke_sessions", target, phase=phase, mode="auto",  # type: ignore[arg-type]
                 invocation_id="inv-1", detail={"status": 204, "why": "forged token"},
                 now=NOW + timedelta(minutes=minutes))


def test_the_row_columns_are_the_table_contract() -> None:
    contract = json.loads((ROOT / "shared/schemas/TokenwardenAudit_CL.json").read_text())
    assert tuple(c["name"] for c in contract["columns"]) == AUDIT_COLUMNS
    row = audit_row({"case_id": "c", "action_id": "a", "step": "s", "target": "t", "phase": "refused",
                     "mode": "auto", "invocation_id": "i", "actor": "x", "detail": {"k": 1},
                     "updated_at": "2026-11-28T12:00:00.000000Z", "attempts": 2})
    assert tuple(row) == AUDIT_COLUMNS
    assert row["Phase"] == "outcome" and row["Status"] == "refused" and row["Detail"] == {"k": 1}
    assert audit_row({"phase": "planned"})["Phase"] == "intent"


def test_an_oversized_detail_is_truncated_not_sent_whole() -> None:
    row = audit_row({"phase": "failed", "detail": {"error": "x" * 100_000}})
    assert row["Detail"]["truncated"] is True and len(row["Detail"]["text"]) == 32_000


def test_intent_and_outcome_rows_reach_the_stream_with_the_table_columns(ledger: Ledger,
                                                                         simulator: SimulatorServer) -> None:
    async def run() -> AuditSink:
        async with _sink(simulator) as sink:
            store = ActionStore(ledger.actions, on_record=sink)
            await asyncio.to_thread(_record, store, "case-1", "intent")
            await asyncio.to_thread(_record, store, "case-1", "succeeded", minutes=1)
            await asyncio.to_thread(_record, store, "case-1", "intent", minutes=5)  # replay: writes nothing
        return sink

    sink = asyncio.run(run())
    rows = _ingested(simulator)
    assert [(r["Phase"], r["Status"]) for r in rows] == [("intent", "intent"), ("outcome", "succeeded")]
    assert all(tuple(r) == AUDIT_COLUMNS for r in rows)
    first = rows[0]
    assert first["CaseId"] == "case-1" and first["InvocationId"] == "inv-1" and first["Mode"] == "auto"
    assert first["ActionId"].startswith("act-") and first["Step"] == "revoke_sessions"
    assert first["TimeGenerated"] == "2026-11-28T12:00:00.000000Z"
    assert first["Detail"] == {"status": 204, "why": "forged token"}
    assert (sink.uploaded, sink.failed, sink.dropped, sink.pending) == (2, 0, 0, 0)
    calls = [r for r in simulator.stats.records() if r.route is not None and "streams" in r.path]
    assert len(calls) == 1 and calls[0].status == 204  # one batch for the invocation


def test_a_full_buffer_flushes_while_the_run_goes_on(ledger: Ledger, simulator: SimulatorServer) -> None:
    async def run() -> int:
        async with _sink(simulator, max_batch_rows=2) as sink:
            store = ActionStore(ledger.actions, on_record=sink)
            for n in range(3):
                await asyncio.to_thread(_record, store, f"case-{n}", "intent")
            for _ in range(100):  # the scheduled flush runs on this loop; give it up to 5 s
                if _ingested(simulator):
                    break
                await asyncio.sleep(0.05)
            return len(_ingested(simulator))  # measured before the block's closing flush

    assert asyncio.run(run()) == 2  # the first batch went before the block ended
    assert len(_ingested(simulator)) == 3


@pytest.mark.parametrize(("status", "retry_after"), [(429, 0.05), (503, None)])
def test_throttling_and_outages_are_retried(status: int, retry_after: float | None,
                                            simulator: SimulatorServer) -> None:
    simulator.faults.fail(f"/{RULE}/streams/*", status=status, times=2, retry_after=retry_after)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    class Recording(RetryPolicy):
        def retrying(self, *, sleep: Any = sleep) -> Any:  # the test's sleep, so no real wait
            return super().retrying(sleep=sleep)

    async def run() -> AuditSink:
        async with _sink(simulator, retry=Recording(max_attempts=4, base_backoff=0.01, jitter=0.0)) as sink:
            sink.add({"case_id": "case-9", "phase": "intent", "updated_at": "2026-11-28T12:00:00.000000Z"})
        return sink

    sink = asyncio.run(run())
    assert sink.uploaded == 1 and sink.failed == 0
    assert [r["CaseId"] for r in _ingested(simulator)] == ["case-9"]
    assert len(waits) == 2
    if retry_after is not None:
        assert waits == [retry_after, retry_after]  # Retry-After honoured


def test_a_failed_upload_never_breaks_recording(ledger: Ledger, simulator: SimulatorServer,
                                                caplog: pytest.LogCaptureFixture) -> None:
    simulator.faults.fail(f"/{RULE}/streams/*", status=503, times=None)

    async def run() -> AuditSink:
        async with _sink(simulator, retry=RetryPolicy(max_attempts=2, base_backoff=0.01, max_backoff=0.01)) as sink:
            store = ActionStore(ledger.actions, on_record=sink)
            await asyncio.to_thread(_record, store, "case-2", "intent")
            await asyncio.to_thread(_record, store, "case-2", "succeeded", minutes=1)
        return sink

    with caplog.at_level("WARNING", logger="tokenwarden.audit"):
        sink = asyncio.run(run())
    assert [r.phase for r in ActionStore(ledger.actions).for_case("case-2")] == ["succeeded"]
    assert (sink.uploaded, sink.failed) == (0, 2)
    assert _ingested(simulator) == []
    assert any("only in the Actions table" in r.getMessage() for r in caplog.records)


def test_a_raising_callback_is_logged_and_the_record_stands(ledger: Ledger,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    def broken(record: object) -> None:
        raise RuntimeError("sink down")

    store = ActionStore(ledger.actions, on_record=broken)
    with caplog.at_level("WARNING", logger="tokenwarden.audit"):
        _record(store, "case-3", "intent")
    assert store.get("case-3", "revoke_sessions", "user-a") is not None
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warned and warned[0].case_id == "case-3"  # type: ignore[attr-defined]


def test_an_unreachable_endpoint_is_counted_not_raised() -> None:
    async def run() -> AuditSink:
        async with AuditSink(endpoint="http://127.0.0.1:9", rule_id=RULE, credential=StaticCredential(),
                             retry=RetryPolicy(max_attempts=2, base_backoff=0.01), timeout=1.0) as sink:
            sink.add({"case_id": "case-4", "phase": "failed"})
        return sink

    sink = asyncio.run(run())
    assert (sink.uploaded, sink.failed) == (0, 1)


def test_a_full_buffer_drops_the_oldest_row_and_counts_it() -> None:
    sink = AuditSink(endpoint="https://dce.example.ingest.monitor.azure.com", rule_id=RULE,
                     credential=StaticCredential(), max_batch_rows=2, max_buffered_rows=2)
    for n in range(3):
        sink.add({"case_id": f"case-{n}", "phase": "intent"})
    assert (sink.pending, sink.dropped) == (2, 1)


def test_plain_http_is_refused_off_loopback() -> None:
    with pytest.raises(ConfigurationError, match="must be https"):
        AuditSink(endpoint="http://dce.example.com", rule_id=RULE, credential=StaticCredential())


def test_the_sink_is_off_unless_endpoint_and_rule_are_set() -> None:
    assert AuditSink.from_settings(load_settings({}), StaticCredential()) is None
    sink = AuditSink.from_settings(load_settings({"LOGS_INGESTION_ENDPOINT": "https://dce.example.com",
                                                  "AUDIT_DCR_IMMUTABLE_ID": RULE}), StaticCredential())
    assert sink is not None and sink.stream == AUDIT_STREAM and sink.rule_id == RULE


# --- the simulator's endpoint, spoken to directly ------------------------------------------------------------------
def _post(simulator: SimulatorServer, body: bytes, *, version: str = "2023-01-01", bearer: bool = True,
          encoding: str | None = None, scope: str = INGESTION_SCOPE, rule: str = RULE,
          stream: str = AUDIT_STREAM) -> int:
    headers = {"Content-Type": "application/json"}
    if bearer:
        headers["Authorization"] = f"Bearer {local_token(scope)}"
    if encoding:
        headers["Content-Encoding"] = encoding
    request = urllib.request.Request(
        f"{simulator.url}/dataCollectionRules/{rule}/streams/{stream}?api-version={version}",
        data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_the_simulated_endpoint_checks_auth_version_body_and_size(simulator: SimulatorServer) -> None:
    rows = json.dumps([{"CaseId": "x"}]).encode()
    assert _post(simulator, rows, bearer=False) == 401
    assert _post(simulator, rows, version="2021-11-01-preview") == 400
    assert _post(simulator, b'{"CaseId": "x"}') == 400
    assert _post(simulator, b"not gzip", encoding="gzip") == 400
    big = json.dumps([{"Detail": "x" * MAX_CALL_BYTES}]).encode()
    assert _post(simulator, big) == 413
    assert _post(simulator, gzip.compress(big), encoding="gzip") == 413  # small on the wire, too big inflated
    assert _post(simulator, rows) == 204
    assert _post(simulator, gzip.compress(rows), encoding="gzip") == 204
    assert _ingested(simulator) == [{"CaseId": "x"}, {"CaseId": "x"}]


def test_key_cache_refreshes_outside_a_case_reach_the_audit_table_too(simulator: SimulatorServer, ledger: Ledger,
                                                                      storage_environment: dict[str, str]) -> None:
    from shared.respond.key_refresh import REFRESH_STEP, refresh_registered_apps

    settings = load_settings({
        **storage_environment, "RESPONSE_MODE": "approval", "ARM_ENDPOINT": simulator.url,
        "GRAPH_ENDPOINT": simulator.url, "EVENT_GRID_TOPIC_ENDPOINT": f"{simulator.url}/api/events",
        "CACHE_REFRESH_APPS": json.dumps([{"app_id": "*", "mechanism": "event_grid"}]),
        "LOGS_INGESTION_ENDPOINT": simulator.url, "AUDIT_DCR_IMMUTABLE_ID": RULE, "AUDIT_STREAM_NAME": AUDIT_STREAM})
    report = refresh_registered_apps(settings, ledger, kids=["kid-removed"], reason="key removed",
                                     event_id_seed="drift:test", now=NOW, case_prefix="drift")
    assert [o.phase for o in report.outcomes if o.step == REFRESH_STEP] == ["succeeded"]
    rows = [r for r in _ingested(simulator) if r["Step"] == REFRESH_STEP]
    assert [r["Status"] for r in rows] == ["intent", "succeeded"] and rows[0]["CaseId"] == report.case_id


def test_an_unknown_rule_or_stream_is_refused_as_the_service_refuses_it(simulator: SimulatorServer) -> None:
    rows = json.dumps([{"CaseId": "x"}]).encode()
    assert _post(simulator, rows, rule="dcr-ffffffffffffffffffffffffffffffff") == 404
    assert _post(simulator, rows, stream="Custom-Nope_CL") == 400
    assert _ingested(simulator) == []


def test_a_token_for_another_audience_is_refused(simulator: SimulatorServer) -> None:
    rows = json.dumps([{"CaseId": "x"}]).encode()
    assert _post(simulator, rows, scope="https://management.azure.com/.default") == 401
    assert _post(simulator, rows) == 204


def test_columns_the_stream_does_not_declare_are_dropped(simulator: SimulatorServer) -> None:
    rows = json.dumps([{"CaseId": "x", "Undeclared": "gone", "TenantId": "reserved"}]).encode()
    assert _post(simulator, rows) == 204
    assert _ingested(simulator) == [{"CaseId": "x"}]


def test_the_sink_uploads_to_the_deployed_stream_with_every_column_kept(simulator: SimulatorServer,
                                                                         ledger: Ledger) -> None:
    """What the sink sends is exactly what the DCR keeps: no column of the audit row is silently dropped."""
    sink = _sink(simulator)

    async def go() -> None:
        async with sink:
            store = ActionStore(ledger.actions, on_record=sink)
            _record(store, "case-cols", "succeeded")

    asyncio.run(go())
    (row,) = _ingested(simulator)
    assert tuple(row) == AUDIT_COLUMNS
