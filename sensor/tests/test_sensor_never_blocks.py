"""The sensor is never the app's problem: a dark ingestion endpoint neither blocks a request nor raises into
it, and memory stays bounded however long the endpoint stays dark."""

from __future__ import annotations

import base64
import json
import tracemalloc

import pytest

from sensor_support import APP_ID, NOW, RULE, StaticCredential, hanging_server, token
from tokenwarden_sensor import IngestionTarget, Sensor, SensorConfig


def test_a_hanging_endpoint_never_blocks_the_request_path() -> None:
    with hanging_server() as dark:
        sensor = Sensor(SensorConfig(app_id=APP_ID, ingestion=IngestionTarget(endpoint=dark.url, rule_id=RULE),
                                     batch_size=1, max_queued_rows=3), credential=StaticCredential())
        sensor.observe(token(uti="first"), "Accepted")
        assert dark.arrived.wait(60), "the sender thread never reached the endpoint"
        # The first upload is now held open by the server. Requests go on: each returns while it hangs.
        for n in range(10):
            assert sensor.observe(token(uti=f"next-{n}"), "Accepted").refuse is False
        assert not dark.release.is_set()
        counters = sensor.counters()
        assert counters.recorded == 11
        assert counters.dropped == 7  # 10 waiting rows in a queue of 3: the 7 oldest went
        assert counters.sent == 0
        dark.release.set()
        sensor.close()
        counters = sensor.counters()
        assert counters.sent + counters.failed + counters.dropped == 11 and counters.pending == 0


def test_an_unreachable_endpoint_raises_nothing_into_the_app() -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on: every connection is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sensor = Sensor(SensorConfig(app_id=APP_ID, ingestion=IngestionTarget(endpoint=f"http://127.0.0.1:{port}",
                                                                         rule_id=RULE),
                                 anomaly_topic=f"http://127.0.0.1:{port}/api/events"), credential=StaticCredential())
    sensor.observe(token(kid="1LTMzakihiRla_8z2BEJVXeWMqo"), "Accepted")
    assert sensor.flush()
    counters = sensor.counters()
    assert (counters.recorded, counters.failed, counters.anomalies, counters.anomalies_failed) == (1, 1, 1, 1)
    sensor.close()


def _distinct_token(n: int) -> str:
    """A distinct token per request, cheaply (the sensor never verifies the signature)."""
    header = base64.urlsafe_b64encode(b'{"alg":"RS256","kid":"ZtGrLtIomVfvajJa0XNpd7CPbfY"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps({
        "aud": APP_ID, "iss": "https://login.microsoftonline.com/6513270e-269e-4d37-b2a7-4de452e6b438/v2.0",
        "tid": "6513270e-269e-4d37-b2a7-4de452e6b438", "oid": f"00000000-0000-0000-0000-{n:012d}",
        "uti": f"uti-{n}", "iat": NOW, "exp": NOW + 3600}).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.c2ln"


@pytest.mark.slow
def test_memory_stays_bounded_for_100000_requests_to_a_dark_endpoint() -> None:
    requests, capacity, tracked = 100_000, 2_000, 5_000
    with hanging_server() as dark:
        sensor = Sensor(SensorConfig(app_id=APP_ID, ingestion=IngestionTarget(endpoint=dark.url, rule_id=RULE),
                                     max_queued_rows=capacity, batch_size=100, max_tracked_tokens=tracked),
                        credential=StaticCredential())
        samples: dict[int, int] = {}
        try:
            for n in range(requests):
                if n == 20_000:  # queue and cache are long full by now; trace from here (tracing is slow)
                    tracemalloc.start()
                sensor.observe(_distinct_token(n), "Accepted")
                if n + 1 in (50_000, 100_000):
                    samples[n + 1] = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        counters = sensor.counters()
        assert counters.recorded == requests
        assert counters.pending <= capacity + 100  # the queue plus the one batch held by the dark endpoint
        assert counters.sent == 0
        assert counters.dropped + counters.failed + counters.pending == requests
        # Once the queue and the token cache are full, memory stops growing: the second 50,000 requests add
        # less than 1 MiB (a leak of even 20 bytes a request would add 1 MB).
        assert samples[100_000] - samples[50_000] < 1024 * 1024, samples
        dark.release.set()
        sensor.close(timeout=30)
