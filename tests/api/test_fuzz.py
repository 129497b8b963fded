"""Property-based: every route, driven with generated bodies, bytes, query strings, ids and content types,
answers JSON and never 500; every error is the envelope with the invocation id.

Routes described in the OpenAPI table whose functions are not registered yet are skipped, by name.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.api.http import MAX_BODY_BYTES
from shared.api.openapi import ROUTES, Route
from shared.detect.ruleset import load_rules
from shared.ledger.connection import LedgerTableNames
from tests.api.api_support import Answer, Registered, assert_error_envelope, call_function, http_function
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.function_env import set_offline_environment

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=16,
)
INSTANTS = st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2027, 1, 1),
                        timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat())
NEAR_DEMO = st.integers(min_value=-60, max_value=2).map(lambda h: (DEMO_END + timedelta(hours=h)).isoformat())
RULE_IDS = st.lists(st.sampled_from([*load_rules().ids, "no-such-rule", "X"]), max_size=3)
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "since": NEAR_DEMO | INSTANTS | JSON, "until": NEAR_DEMO | INSTANTS | JSON, "rules": RULE_IDS | JSON,
    "dry_run": st.booleans() | JSON,
    "users": st.lists(st.sampled_from(["alice@contoso.example", "00000000-0000-0000-0000-000000000001"]) | st.text(),
                      max_size=3) | JSON,
    "apps": st.lists(st.uuids().map(str) | st.text(max_size=40), max_size=3) | JSON,
    "mode": st.sampled_from(["dry-run", "approval", "auto", "yolo"]) | JSON,
    "approver": st.text(max_size=300) | JSON, "reason": st.text(max_size=1200) | JSON,
    "comment": st.text(max_size=50) | JSON, "audience": st.text(max_size=50) | JSON,
    "token": st.sampled_from(["eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "a.b.c", "x" * 17000]) | st.text() | JSON,
}
CONTENT_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", None, "text/plain",
                                 "application/problem+json", "multipart/form-data; boundary=x",
                                 "application/x-www-form-urlencoded", "", "  APPLICATION/JSON  "])


def _shaped(route: Route) -> st.SearchStrategy[Any]:
    """Dicts with some of the route's own field names (plausible and implausible values)."""
    if route.body is None:
        return JSON
    fields = set(route.body.model_fields) or {"incidentId", "properties"}
    optional = {name: FIELD_VALUES.get(name, JSON) for name in sorted(fields)}
    return st.fixed_dictionaries({}, optional=optional)


def _bodies(route: Route) -> st.SearchStrategy[bytes]:
    as_json = (_shaped(route) | JSON).map(lambda value: json.dumps(value).encode())
    return as_json | st.binary(max_size=300) | st.text(max_size=200).map(str.encode)


def _check(answer: Answer, route: Route) -> None:
    assert answer.status != 500, f"{route.method} /{route.route} answered 500: {answer.text}"
    body = json.loads(answer.text)  # every answer is JSON
    assert answer.headers.get("X-Invocation-Id") == "fuzz-invocation"
    if answer.status >= 400 and not (route.route == "health" and answer.status == 503):
        assert_error_envelope(answer, "fuzz-invocation")
    elif route.route == "health":
        assert body["invocation_id"] == "fuzz-invocation"


@pytest.fixture
def fuzz_env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
             ledger_names: LedgerTableNames, ledger: object) -> None:
    set_offline_environment(monkeypatch, demo_logs.environment(**storage_environment), ledger_names)


def _function(route: Route) -> Registered:
    registered = http_function(route.method, route.route)
    if registered is None:
        pytest.skip(f"{route.method} /{route.route} has no registered function yet; it is fuzzed once it does")
    return registered


def _route_params(route: Route, value: str) -> dict[str, str]:
    return {"id": value} if "{id}" in route.route else {}


IDS = st.text(max_size=60) | st.sampled_from(["case-usr-00000000000000000000-1", "", "a/b", "case#1", "x" * 2000])
QUERIES = st.dictionaries(st.sampled_from(["state", "severity", "limit", "cursor", "code", "other"]),
                          st.text(max_size=30) | st.sampled_from(["new", "High", "1", "200", "201", "-1", "W10"]),
                          max_size=4)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.route}")
def test_generated_requests_never_get_a_500(route: Route, fuzz_env: None) -> None:
    registered = _function(route)

    @FUZZ
    @given(body=_bodies(route), content_type=CONTENT_TYPES, case_id=IDS, query=QUERIES)
    def drive(body: bytes, content_type: str | None, case_id: str, query: dict[str, str]) -> None:
        answer = call_function(registered, body=body, content_type=content_type, params=query,
                               route_params=_route_params(route, case_id), invocation_id="fuzz-invocation")
        _check(answer, route)

    drive()


@pytest.mark.parametrize("route", [r for r in ROUTES if r.body is not None], ids=lambda r: f"{r.method} {r.route}")
@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 4 * MAX_BODY_BYTES])
def test_huge_bodies_are_413(route: Route, size: int, fuzz_env: None) -> None:
    registered = _function(route)
    body = b'{"a": "' + b"x" * size + b'"}'
    answer = call_function(registered, body=body, content_type="application/json",
                           route_params=_route_params(route, "case-usr-00000000000000000000-1"),
                           invocation_id="fuzz-invocation")
    assert answer.status == 413
    _check(answer, route)
