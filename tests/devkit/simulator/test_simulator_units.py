"""The simulator's parts without HTTP: filters, token buckets, paging, routing."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.devkit.simulator.odata import QueryError, QueryOptions, page, parse_query
from shared.devkit.simulator.odata_filter import FilterError, FilterRules, parse_filter
from shared.devkit.simulator.routing import Route, Router
from shared.devkit.simulator.throttling import ThrottleLimit, Throttler, identity_cost

RULES = FilterRules("Thing", {
    "name": frozenset({"eq", "ne", "in", "startswith"}),
    "level": frozenset({"eq", "in"}),
    "names": frozenset({"any"}),
    "when": frozenset({"ge", "lt"}),
    "enabled": frozenset({"eq"}),
})


def matches(expression: str, item: Mapping[str, object]) -> bool:
    return parse_filter(expression, RULES)(item)


@given(st.text(max_size=30))
def test_string_literals_round_trip(value: str) -> None:
    literal = "'" + value.replace("'", "''") + "'"
    assert matches(f"name eq {literal}", {"name": value})
    assert matches(f"name eq {literal}", {"name": value.upper()}) == (value.upper().lower() == value.lower())
    assert not matches(f"name ne {literal}", {"name": value})


def test_boolean_structure_and_literals() -> None:
    item = {"name": "Ada", "level": "high", "names": ["a", "api://x"], "when": "2026-01-02T03:04:05.1234567Z",
            "enabled": True}
    assert matches("level eq 'high' and (name eq 'x' or name eq 'ada')", item)
    assert not matches("not (level eq 'high')", item)
    assert matches("level eq microsoft.graph.riskLevel'high'", item)
    assert matches("level in ('low', 'HIGH')", item)
    assert matches("startswith(name, 'a')", item)
    assert matches("names/any(n:n eq 'API://X')", item)
    assert matches("when ge 2026-01-02T03:04:05Z and when lt 2026-01-03T00:00:00Z", item)
    assert matches("enabled eq true", item)
    assert not matches("enabled eq false", item)


@pytest.mark.parametrize(("expression", "code"), [
    ("colour eq 'red'", "Request_UnsupportedQuery"),
    ("level ne 'x'", "Request_UnsupportedQuery"),
    ("name eq", "BadRequest"),
    ("name eq 'unterminated", "BadRequest"),
    ("(name eq 'x'", "BadRequest"),
    ("names/any(n:m eq 'x')", "BadRequest"),
])
def test_refused_filters(expression: str, code: str) -> None:
    with pytest.raises(FilterError) as raised:
        parse_filter(expression, RULES)
    assert raised.value.code == code


def test_unsupported_property_message_names_the_resource() -> None:
    with pytest.raises(FilterError, match="for property 'colour' of resource 'Thing'"):
        parse_filter("colour eq 'red'", RULES)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_and_promises_honest_retry_after() -> None:
    clock = FakeClock()
    throttler = Throttler({"f": ThrottleLimit(capacity=4, per_seconds=8)}, clock=clock)  # 0.5 token/s
    assert all(throttler.check("f", 1).allowed for _ in range(4))
    refused = throttler.check("f", 1)
    assert not refused.allowed
    assert refused.retry_after_header() == "2"
    clock.now += 1.9
    assert not throttler.check("f", 1).allowed
    clock.now += 0.1
    assert throttler.check("f", 1).allowed
    assert throttler.check("other", 10**6).allowed, "a family without a limit is never throttled"


def test_bucket_options() -> None:
    clock = FakeClock()
    quiet = Throttler({"f": ThrottleLimit(capacity=1, per_seconds=1, retry_after=False)}, clock=clock)
    quiet.check("f", 1)
    assert quiet.check("f", 1).retry_after_header() is None
    fractional = Throttler({"f": ThrottleLimit(capacity=1, per_seconds=4, fractional_retry_after=True)}, clock=clock)
    fractional.check("f", 1)
    clock.now += 1.5
    assert fractional.check("f", 1).retry_after_header() == "2.500"
    charging = Throttler({"f": ThrottleLimit(capacity=1, per_seconds=1, charge_throttled=True)}, clock=clock)
    charging.check("f", 1)
    charging.check("f", 1)
    assert charging.tokens("f") == -1
    assert charging.check("f", 1).retry_after_header() == "3"


def test_identity_costs_follow_graph_rules() -> None:
    assert identity_cost(2, frozenset(), None) == 2
    assert identity_cost(2, frozenset({"$select"}), None) == 1
    assert identity_cost(2, frozenset({"$select", "$top"}), 5) == 1
    assert identity_cost(1, frozenset({"$expand"}), None) == 2


@given(st.integers(min_value=0, max_value=60), st.integers(min_value=1, max_value=25))
def test_paging_visits_every_item_once(count: int, top: int) -> None:
    items = list(range(count))
    seen: list[int] = []
    options = parse_query(f"$top={top}", supported={"$top", "$skiptoken"})
    while True:
        chunk, token = page(items, options, default_top=100, max_top=999)
        assert len(chunk) <= top
        seen.extend(chunk)
        if token is None:
            break
        options = QueryOptions((("$top", str(top)), ("$skiptoken", token)))
    assert seen == items


def test_query_options_are_checked() -> None:
    assert parse_query("%24select=id&foo=bar", supported={"$select"}).select == ("id",)
    with pytest.raises(QueryError, match="more than once"):
        parse_query("$select=id&$select=id", supported={"$select"})
    with pytest.raises(QueryError, match="does not support"):
        parse_query("$expand=manager", supported={"$select"})


def test_router_prefers_literals_and_reports_unknown_segments() -> None:
    router = Router()

    def handler(*_: object) -> None:  # pragma: no cover - never called
        raise AssertionError

    router.add(Route(method="GET", template="/users/{id}", handler=handler))  # type: ignore[arg-type]
    router.add(Route(method="GET", template="/users/delta", handler=handler))  # type: ignore[arg-type]
    resolved = router.resolve("GET", ("users", "delta"))
    assert resolved.route is not None and resolved.route.template == "/users/delta"
    assert router.resolve("GET", ("USERS", "x")).params == {"id": "x"}
    assert router.resolve("POST", ("users", "x")).error == (
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
    error = router.resolve("GET", ("users", "x", "photo")).error
    assert error is not None and error[2] == "Resource not found for the segment 'photo'."
    with pytest.raises(ValueError, match="already registered"):
        router.add(Route(method="GET", template="/Users/{id}", handler=handler))  # type: ignore[arg-type]
