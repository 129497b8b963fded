"""Rows and anomalies reach the local Logs Ingestion and Event Grid endpoints through the real SDK clients, once
per token and interval; and what the sensor sends is what Tokenwarden's ``events`` function parses."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sensor_support import APP_ID, RULE, STORM_KID, STREAM, StaticCredential, sensor_tenant, token
from shared.devkit.simulator import SimulatorServer, build_simulator
from shared.devkit.simulator.ingestion import ingestion_key
from shared.intake.events import TokenAnomaly, parse_event
from tests.support.servers import running
from tokenwarden_sensor import COLUMNS, IngestionTarget, Sensor, SensorConfig


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    with running(build_simulator(sensor_tenant())) as server:
        yield server


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _sensor(simulator: SimulatorServer, clock: Clock | None = None, **options: Any) -> Sensor:
    config = SensorConfig(app_id=APP_ID, app_name="Orders API",
                          ingestion=IngestionTarget(endpoint=simulator.url, rule_id=RULE),
                          anomaly_topic=f"{simulator.url}/api/events", **options)
    return Sensor(config, credential=StaticCredential(), clock=clock or time.time)


def _rows(simulator: SimulatorServer) -> list[dict[str, Any]]:
    with simulator.state.lock:
        return list(simulator.state.ingested.get(ingestion_key(RULE, STREAM), []))


def test_one_row_per_distinct_token_and_outcome_per_interval(simulator: SimulatorServer) -> None:
    clock = Clock()
    sensor = _sensor(simulator, clock, record_interval=300)
    try:
        for _ in range(3):
            sensor.observe(token(uti="a"), "Accepted", client_ip="203.0.113.9", user_agent="orders-client/1")
        sensor.observe(token(uti="b"), "Accepted")
        sensor.observe(token(uti="a"), "Rejected", "signature invalid")
        clock.now += 301
        sensor.observe(token(uti="a"), "Accepted")
        assert sensor.flush()
        rows = _rows(simulator)
        assert [(r["TokenId"], r["Outcome"]) for r in rows] == [
            ("a", "Accepted"), ("b", "Accepted"), ("a", "Rejected"), ("a", "Accepted")]
        assert all(tuple(r) == COLUMNS for r in rows)
        assert rows[0]["ClientIp"] == "203.0.113.9" and rows[0]["UserAgent"] == "orders-client/1"
        assert rows[2]["FailureReason"] == "signature invalid"
        counters = sensor.counters()
        assert (counters.recorded, counters.sent, counters.deduplicated, counters.dropped, counters.failed) == \
            (4, 4, 2, 0, 0)
    finally:
        sensor.close()


def test_a_red_flag_sends_one_anomaly_that_tokenwarden_parses(simulator: SimulatorServer) -> None:
    sensor = _sensor(simulator)
    try:
        for _ in range(3):
            assert sensor.observe(token(kid=STORM_KID, uti="storm"), "Accepted").refuse is False  # off by default
        sensor.observe(token(uti="fine"), "Accepted")
        assert sensor.flush()
        with simulator.state.lock:
            events = list(simulator.state.events)
        assert [e["eventType"] for e in events] == ["Tokenwarden.TokenAnomaly"]
        parsed = parse_event(events[0])
        assert isinstance(parsed, TokenAnomaly)
        assert parsed.finding.key_id == STORM_KID and parsed.finding.token_id == "storm"
        assert parsed.reason.startswith("compromised-signing-key: signed with known-compromised key")
        assert sensor.counters().anomalies_sent == 1
    finally:
        sensor.close()


def test_refusing_red_flags_is_the_apps_choice(simulator: SimulatorServer) -> None:
    sensor = _sensor(simulator, refuse_red_flags=True)
    try:
        verdict = sensor.observe(token(kid=STORM_KID), "Accepted")
        assert verdict.refuse and "known-compromised" in (verdict.reason or "")
        assert sensor.observe(token(), "Accepted").refuse is False
        assert sensor.flush()
        outcomes = {r["KeyId"]: (r["Outcome"], r["FailureReason"]) for r in _rows(simulator)}
        assert outcomes[STORM_KID][0] == "Rejected" and sensor.counters().refused == 1
    finally:
        sensor.close()


def test_a_refused_upload_is_counted_as_failed_not_raised(simulator: SimulatorServer) -> None:
    simulator.faults.fail("/dcr-*/streams/*", status=403, times=None)
    sensor = _sensor(simulator)
    try:
        sensor.observe(token(), "Accepted")
        assert sensor.flush()
        counters = sensor.counters()
        assert (counters.recorded, counters.sent, counters.failed) == (1, 0, 1)
    finally:
        sensor.close()
