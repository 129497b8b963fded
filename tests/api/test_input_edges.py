"""Input at the edges answers 4xx, never 500: extreme dates, lone surrogates, ids that are no table key; and a
404 never echoes what was sent."""

from __future__ import annotations

import pytest

from shared.ledger.connection import Ledger, LedgerTableNames
from tests.api.api_support import assert_error_envelope, call
from tests.support.demo import DemoLogs
from tests.support.function_env import set_offline_environment

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
            ledger_names: LedgerTableNames, ledger: Ledger) -> None:
    set_offline_environment(monkeypatch, demo_logs.environment(**storage_environment), ledger_names)


@pytest.mark.parametrize(("since", "until"), [
    ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T05:00:00+05:00"),
    ("9999-12-31T22:00:00-14:00", "9999-12-31T23:59:59Z"),
    ("2026-03-01T00:00:00Z", "9999-12-31T23:59:59-14:00"),
])
def test_a_scan_window_outside_what_python_and_kusto_hold_is_a_400(api_env: None, since: str, until: str) -> None:
    answer = call("POST", "scan", body={"since": since, "until": until})
    assert answer.status == 400, answer.text
    error = assert_error_envelope(answer)
    assert error["code"] == "date_out_of_range" and "outside the supported range" in error["message"]


@pytest.mark.parametrize(("method", "route", "body"), [
    ("POST", "sentinel/incident", b'{"object": {"properties": {"title": "\\ud800 lone"}}}'),
    ("POST", "respond", b'{"users": ["a@contoso.example"], "reason": "x \\udfff y"}'),
    ("POST", "scan", b'{"since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z", "\\ud83d": 1}'),
    ("POST", "tokens/analyze", b'{"token": "a.b.c", "audience": "\\udc00"}'),
])
def test_a_lone_surrogate_in_a_json_string_is_a_422(api_env: None, method: str, route: str, body: bytes) -> None:
    answer = call(method, route, body=body)
    assert answer.status == 422, answer.text
    assert "lone surrogate" in assert_error_envelope(answer)["message"]


def test_a_paired_surrogate_escape_is_ordinary_text(api_env: None) -> None:
    answer = call("POST", "respond", body=b'{"users": ["a@contoso.example"], "reason": "seen \\ud83d\\ude00"}')
    assert answer.status == 202, answer.text  # recorded and queued


@pytest.mark.parametrize("case_id", ["case-usr-0123456789abcdef0123-1", "<script>alert(1)</script>", "a/b#c?d",
                                     "case-usr-" + "f" * 20 + "-99"])
def test_a_404_never_echoes_the_id(api_env: None, case_id: str) -> None:
    answer = call("GET", "cases/{id}", route_params={"id": case_id}, content_type=None)
    assert answer.status == 404, answer.text
    assert case_id not in answer.text and assert_error_envelope(answer)["code"] == "not_found"
