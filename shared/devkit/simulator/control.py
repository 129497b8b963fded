"""``/_simulator/...``: change the knobs and read the counters over HTTP, for clients in other processes.

Tests in the same process use the Python objects (``server.faults``,
``server.throttle``, ``server.stats``) instead. The control routes take no
token and are not counted; the server binds to loopback only.

====== ================================ ==================================================
GET    /_simulator/stats                ``{"requests", "throttled", "throttledOffsets", "byRoute", "byStatus"}``
POST   /_simulator/reset                clear counters and faults, refill buckets (204)
GET    /_simulator/faults               the armed fault rules
POST   /_simulator/faults               arm one: ``{"pattern", "kind"? (status, timeout, dropAfterApply),
                                        "status"?, "times"?, "retryAfter"?,
                                        "method"?, "holdSeconds"?, "code"?, "message"?}`` (201)
DELETE /_simulator/faults               disarm all (204)
GET    /_simulator/limits               ``{family: {"capacity", "perSeconds", "retryAfter"}}``
PUT    /_simulator/limits/{family}      ``{"capacity", "perSeconds", "retryAfter"?, "chargeThrottled"?}``
DELETE /_simulator/limits/{family}      never throttle that family (204)
PUT    /_simulator/latency              ``{"seconds": 0.05}``
GET    /_simulator/state                how many users, groups, roles, service principals, risky users
====== ================================ ==================================================
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from shared.devkit.simulator.faults import FaultKind, FaultRule
from shared.devkit.simulator.responses import GraphResponse, RequestIds, graph_error
from shared.devkit.simulator.throttling import ThrottleLimit

if TYPE_CHECKING:
    from shared.devkit.simulator.engine import Simulator

__all__ = ["handle_control"]


def handle_control(simulator: Simulator, method: str, segments: tuple[str, ...], body: bytes | None,
                   ids: RequestIds) -> GraphResponse:
    area = segments[0] if segments else ""
    rest = segments[1:]
    try:
        document = json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return graph_error(400, "BadRequest", "The request body is not JSON.", ids)
    if not isinstance(document, dict):
        return graph_error(400, "BadRequest", "The request body must be a JSON object.", ids)
    try:
        answer = _route(simulator, method, area, rest, document)
    except (KeyError, TypeError, ValueError) as problem:
        return graph_error(400, "BadRequest", f"Invalid control request: {problem}", ids)
    if answer is None:
        return graph_error(404, "NotFound", f"No control endpoint {method} /_simulator/{'/'.join(segments)}.", ids)
    return answer


def _route(simulator: Simulator, method: str, area: str, rest: tuple[str, ...],
           document: dict[str, object]) -> GraphResponse | None:
    if (method, area, rest) == ("GET", "stats", ()):
        stats = simulator.stats
        return _json({"requests": stats.count(), "throttled": stats.throttled,
                      "throttledOffsets": [round(t, 3) for t in stats.throttled_offsets()], "byRoute": stats.by_route(),
                      "byStatus": {str(k): v for k, v in stats.by_status().items()}})
    if (method, area, rest) == ("POST", "reset", ()):
        simulator.reset()
        return GraphResponse(204)
    if (method, area, rest) == ("GET", "state", ()):
        return _json(dict(simulator.state.summary()))
    if area == "faults" and not rest:
        return _faults(simulator, method, document)
    if area == "limits":
        return _limits(simulator, method, rest, document)
    if (method, area, rest) == ("PUT", "latency", ()):
        seconds = _number(document, "seconds")
        if seconds < 0:
            raise ValueError("latency must not be negative")
        simulator.latency = seconds
        return _json({"seconds": seconds})
    return None


def _faults(simulator: Simulator, method: str, document: dict[str, object]) -> GraphResponse | None:
    if method == "GET":
        return _json({"value": [_fault_json(rule) for rule in simulator.faults.rules()]})
    if method == "DELETE":
        simulator.faults.clear()
        return GraphResponse(204)
    if method == "POST":
        kinds: dict[str, FaultKind] = {"status": "status", "timeout": "timeout",
                                       "dropAfterApply": "drop_after_apply"}
        kind = str(document.get("kind", "status"))
        if kind not in kinds:
            raise ValueError("kind must be 'status', 'timeout' or 'dropAfterApply'")
        times = document.get("times", 1)
        rule = simulator.faults.add(FaultRule(
            pattern=_text(document, "pattern"), kind=kinds[kind],
            status=int(_number(document, "status", 503)),
            times=None if times is None else int(_number(document, "times")),
            retry_after=None if document.get("retryAfter") is None else _number(document, "retryAfter"),
            method=_optional_text(document, "method"),
            hold_seconds=_number(document, "holdSeconds", 30.0),
            code=_optional_text(document, "code"),
            message=_optional_text(document, "message")))
        return _json(_fault_json(rule), status=201)
    return None


def _limits(simulator: Simulator, method: str, rest: tuple[str, ...],
            document: dict[str, object]) -> GraphResponse | None:
    if method == "GET" and not rest:
        return _json({family: {"capacity": limit.capacity, "perSeconds": limit.per_seconds,
                               "retryAfter": limit.retry_after}
                      for family, limit in simulator.throttle.limits().items()})
    if len(rest) != 1:
        return None
    if method == "DELETE":
        simulator.throttle.set_limit(rest[0], None)
        return GraphResponse(204)
    if method == "PUT":
        limit = ThrottleLimit(
            capacity=_number(document, "capacity"),
            per_seconds=_number(document, "perSeconds"),
            retry_after=bool(document.get("retryAfter", True)),
            charge_throttled=bool(document.get("chargeThrottled", False)))
        simulator.throttle.set_limit(rest[0], limit)
        return _json({"capacity": limit.capacity, "perSeconds": limit.per_seconds, "retryAfter": limit.retry_after})
    return None


def _number(document: dict[str, object], key: str, default: float | None = None) -> float:
    value = document.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} must be a number")
    return float(value)


def _text(document: dict[str, object], key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key!r} must be a non-empty string")
    return value


def _optional_text(document: dict[str, object], key: str) -> str | None:
    return _text(document, key) if document.get(key) is not None else None


def _fault_json(rule: FaultRule) -> dict[str, object]:
    return {_camel(name): value for name, value in dataclasses.asdict(rule).items()}


def _camel(name: str) -> str:
    head, *tail = name.split("_")
    return head + "".join(part.title() for part in tail)


def _json(body: dict[str, object], *, status: int = 200) -> GraphResponse:
    return GraphResponse(status, body, {"Content-Type": "application/json"})
