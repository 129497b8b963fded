"""Generated hostile input for every way in: the HTTP routes, the trigger parsers and the CLI, and a tally of what
went wrong. Shared by the property-based tests (which assert the tally is clean) and by
``bench/reliability/fig_fuzz.py`` (which reports it).

What counts as wrong, per target:

* an HTTP route: a 500, or an answer that is not the JSON envelope;
* the events trigger: any exception escaping (a bad event must be logged and acknowledged, or Event Grid
  redelivers it for a day);
* the respond queue worker: any exception but the one-line ``DataError`` a malformed message gets (the host
  retries it, then parks it as poison, where ``respond_poison`` logs it and must raise nothing);
* the CLI: any exception escaping ``main`` (a traceback), or an exit 2 whose stderr is not one line.

Every target also fails on a ``Traceback`` in what it logged, answered or printed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

__all__ = [
    "EXTREME_INSTANTS",
    "HOSTILE_TEXT",
    "JSON",
    "Tally",
    "capture_logs",
    "fuzz_cli",
    "fuzz_events",
    "fuzz_queue",
    "fuzz_routes",
]

MAX_FAILURES_KEPT = 5

EXTREME_INSTANTS = st.sampled_from([
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00", "9999-12-31T23:59:59.9999999Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "2026-03-02T12:00:00", "2026-03-02T12:00:00Z", "8999-12-31T23:59:59Z", "10000-01-01T00:00:00Z", "", "now",
]) | st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                  timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat())
"""Times at and past the ends of what Python and Kusto hold, zoneless ones, and ordinary ones."""

TOKEN = ("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJhdWQiOiJhcGk6Ly94IiwidXRpIjoiYWJjIn0."
         "c2lnbmF0dXJlLW9mLWEtcmVhbC10b2tlbi1zaG91bGQtbmV2ZXItYmUtbG9nZ2Vk")
"""A signed-looking JWT: its signature must never come back out."""

HOSTILE_TEXT = st.text(max_size=40) | st.sampled_from([
    "\ud800", "a\udfffb", "case-usr-0/../1", "a\\b#c?d", "x\r\ninjected line", "\u2028\u0085\x1b[2K", "\x00",
    "x" * 1100, f"Bearer {TOKEN}", TOKEN, "case-usr-0123456789abcdef0123-1",
])
"""Strings with lone surrogates, table-key characters, line breaks, control characters, secrets and long runs."""

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | HOSTILE_TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(HOSTILE_TEXT, children, max_size=4),
    max_leaves=16,
)


@dataclass
class Tally:
    """What one target did with its generated inputs."""

    target: str
    inputs: int = 0
    server_errors: int = 0
    """HTTP 500s, or exceptions that escaped a trigger or the CLI when they must not."""
    tracebacks: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, what: str, *, traceback: bool = False) -> None:
        self.server_errors += 0 if traceback else 1
        self.tracebacks += 1 if traceback else 0
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(what[:300])

    @property
    def clean(self) -> bool:
        return self.server_errors == 0 and self.tracebacks == 0


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def capture_logs() -> Iterator[list[str]]:
    """Every log line any logger writes meanwhile, formatted with its traceback when it has one."""
    handler = _Capture()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _settings(examples: int) -> Any:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def _check_logs(tally: Tally, lines: list[str], start: int, what: str) -> None:
    if any("Traceback" in line for line in lines[start:]):
        tally.fail(f"{what}: a traceback was logged", traceback=True)


# -- HTTP routes ------------------------------------------------------------------------------------------------


_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "since": EXTREME_INSTANTS, "until": EXTREME_INSTANTS, "dry_run": st.booleans(),
    "users": st.lists(HOSTILE_TEXT | st.just("a@contoso.example"), min_size=1, max_size=3),
    "mode": st.sampled_from(["dry-run", "approval", "auto"]),
}
"""Plausible values for fields a route checks first, so generated bodies get past them to what comes after."""


def _route_bodies(fields: list[str]) -> st.SearchStrategy[bytes]:
    anything: st.SearchStrategy[Any] = EXTREME_INSTANTS | JSON | st.lists(HOSTILE_TEXT, max_size=3)
    names = fields or ["object", "properties"]
    plausible = st.fixed_dictionaries({name: _FIELD_VALUES.get(name, HOSTILE_TEXT) for name in names
                                       if name in _FIELD_VALUES or name in ("reason", "comment", "approver")})
    shaped = st.fixed_dictionaries({}, optional=dict.fromkeys(names, anything))
    as_json = (plausible | plausible | shaped | JSON).map(lambda value: json.dumps(value).encode())
    return as_json | st.binary(max_size=200)


def fuzz_routes(examples: int) -> list[Tally]:
    """Every route of ``shared.api.openapi.ROUTES`` with generated bodies, ids, query strings and headers."""
    from shared.api.openapi import ROUTES
    from tests.api.api_support import http_function

    tallies = []
    for route in ROUTES:
        tally = Tally(target=f"{route.method} /api/{route.route}")
        tallies.append(tally)
        registered = http_function(route.method, route.route)
        if registered is not None:
            fields = sorted(route.body.model_fields) if route.body is not None else []
            if route.route == "sentinel/incident":
                fields = ["object", "objectSchemaType", "eventUniqueId", "workspaceId"]
            _fuzz_route(registered, fields, tally, examples)
    return tallies


def _encodable(text: str) -> bool:
    return not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _printable(text: str) -> bool:
    return text.isprintable() and _encodable(text)


def _fuzz_route(registered: Any, fields: list[str], tally: Tally, examples: int) -> None:
    from tests.api.api_support import call_function

    @_settings(examples)
    @given(body=_route_bodies(fields), case_id=HOSTILE_TEXT.filter(_encodable),  # a URL holds no lone surrogate
           query=st.dictionaries(st.sampled_from(["state", "severity", "limit", "cursor"]), HOSTILE_TEXT, max_size=3),
           agent=HOSTILE_TEXT.filter(_printable))
    def drive(body: bytes, case_id: str, query: dict[str, str], agent: str) -> None:
        tally.inputs += 1
        with capture_logs() as lines:
            answer = call_function(registered, body=body, content_type="application/json", params=query,
                                   route_params={"id": case_id} if "{id}" in registered.route else {},
                                   headers={"User-Agent": agent}, invocation_id="fuzz")
        what = f"{tally.target} body={body[:80]!r}"
        if answer.status >= 500 and not (registered.route == "health" and answer.status == 503):
            tally.fail(f"{what}: answered {answer.status}: {answer.text[:200]}")
        try:
            json.loads(answer.text)
        except ValueError:
            tally.fail(f"{what}: answer is not JSON")
        if "Traceback" in answer.text:
            tally.fail(f"{what}: traceback in the answer", traceback=True)
        _check_logs(tally, lines, 0, what)

    drive()


# -- the events trigger -----------------------------------------------------------------------------------------


def _alert(start: str, end: str, fired: str, severity: Any, rule: Any) -> dict[str, Any]:
    return {"schemaId": "azureMonitorCommonAlertSchema", "data": {
        "essentials": {"alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/a-1",
                       "alertRule": rule, "severity": severity, "signalType": "Log", "monitorCondition": "Fired",
                       "firedDateTime": fired},
        "alertContext": {"condition": {"windowStartTime": start, "windowEndTime": end,
                                       "allOf": [{"searchQuery": "SigninLogs | take 1"}]}}}}


def _anomaly(when: str, upn: Any, user_agent: Any) -> dict[str, Any]:
    return {"TimeGenerated": when, "AppId": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b", "Audience": "api://x",
            "Issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
            "TokenTenantId": "9188040d-6c67-4c5b-b112-36a304b66dad", "KeyId": "1LTMzakihiRla_8z2BEJVXeWMqo",
            "Upn": upn, "FailureReason": "consumer issuer", "UserAgent": user_agent, "IssuedAt": when}


ALERTS = st.builds(_alert, EXTREME_INSTANTS, EXTREME_INSTANTS, EXTREME_INSTANTS,
                   st.sampled_from(["Sev1", "Sev9"]) | JSON, st.sampled_from(["compromised-signing-key"]) | JSON)
ANOMALIES = st.builds(_anomaly, EXTREME_INSTANTS, HOSTILE_TEXT | JSON, HOSTILE_TEXT)
KEY_EVENTS = st.fixed_dictionaries({"Id": st.just("https://kv.vault.azure.net/keys/k/1") | HOSTILE_TEXT,
                                    "VaultName": st.just("kv") | HOSTILE_TEXT, "ObjectType": st.just("Key"),
                                    "ObjectName": st.just("k") | HOSTILE_TEXT, "Version": st.just("1") | HOSTILE_TEXT},
                                   optional={"NBF": st.integers() | HOSTILE_TEXT, "EXP": st.integers() | JSON})
EVENTS = st.one_of(
    st.tuples(st.just("Tokenwarden.MonitorAlert"), ALERTS | JSON),
    st.tuples(st.just("Tokenwarden.TokenAnomaly"), ANOMALIES | JSON),
    st.tuples(st.sampled_from(["Microsoft.KeyVault.KeyNearExpiry", "Microsoft.KeyVault.KeyNewVersionCreated"]),
              KEY_EVENTS | JSON),
    st.tuples(HOSTILE_TEXT, JSON),
)
"""(type, data): mostly a known type with data shaped like it, hostile in its values."""


def fuzz_events(examples: int) -> Tally:
    """The ``events`` function with Event Grid and CloudEvents deliveries of generated data."""
    from functions.events import bp
    from tests.support.function_env import QueueOutput

    app = func.FunctionApp()
    app.register_functions(bp)
    (function,) = app.get_functions()
    handler = function.get_user_function()
    tally = Tally(target="events trigger (Event Grid)")

    @dataclass
    class Invocation:
        invocation_id: str = "fuzz-events"

    @_settings(examples)
    @given(event=EVENTS, event_id=HOSTILE_TEXT, cloud=st.booleans())
    def drive(event: tuple[str, Any], event_id: str, cloud: bool) -> None:
        tally.inputs += 1
        event_type, data = event
        when = datetime(2026, 3, 2, 12, tzinfo=UTC)
        delivery: Any = (func.CloudEvent(id=event_id, source="/subscriptions/x/topics/t", type=event_type,
                                      specversion="1.0", data=data, time=when, subject="s") if cloud else
                      func.EventGridEvent(id=event_id, data=data, topic="/subscriptions/x/topics/t", subject="s",
                                          event_type=event_type, event_time=when, data_version="1"))
        with capture_logs() as lines:
            try:
                handler(delivery, QueueOutput(), Invocation())
            except Exception as exc:
                tally.fail(f"{event_type!r}: raised {type(exc).__name__}: {exc}")
        _check_logs(tally, lines, 0, f"event {event_type!r}")

    drive()
    return tally


# -- the respond queue ------------------------------------------------------------------------------------------


MESSAGES = (
    st.fixed_dictionaries({"version": st.just(1), "case_id": HOSTILE_TEXT,
                           "queued_at": st.just("2026-03-02T12:00:00+00:00") | EXTREME_INSTANTS},
                          optional={"reason": HOSTILE_TEXT}).map(lambda value: json.dumps(value).encode())
    | st.fixed_dictionaries({"version": st.just(1) | JSON, "case_id": HOSTILE_TEXT | JSON,
                           "queued_at": EXTREME_INSTANTS | JSON}, optional={"reason": HOSTILE_TEXT})
    .map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=120) | st.just(b"[" * 50_000)
)


def fuzz_queue(examples: int) -> Tally:
    """The ``respond`` worker and its poison companion with generated message bodies."""
    import importlib

    from azure.functions.queue import QueueMessage

    import function_app
    from shared.core.errors import DataError

    app = importlib.reload(function_app).app  # azure-functions indexes an app once: a fresh one
    functions = {f.get_function_name(): f.get_user_function() for f in app.get_functions()}
    tally = Tally(target="respond queue worker (+ poison)")

    @dataclass
    class Context:
        invocation_id: str = "fuzz-queue"

    @_settings(examples)
    @given(body=MESSAGES)
    def drive(body: bytes) -> None:
        tally.inputs += 1
        with capture_logs() as lines:
            try:
                functions["respond"](message=QueueMessage(id="fuzz", body=body, dequeue_count=1), context=Context())
            except DataError as exc:
                if "\n" in str(exc):
                    tally.fail(f"respond {body[:60]!r}: a DataError of more than one line")
            except Exception as exc:
                tally.fail(f"respond {body[:60]!r}: raised {type(exc).__name__}: {exc}")
            try:
                functions["respond_poison"](message=QueueMessage(id="fuzz", body=body, dequeue_count=5),
                                            context=Context())
            except DataError:
                pass  # a well-formed message naming no case: nothing to fail, said in one line
            except Exception as exc:
                tally.fail(f"respond_poison {body[:60]!r}: raised {type(exc).__name__}: {exc}")
        _check_logs(tally, lines, 0, f"message {body[:60]!r}")

    drive()
    return tally


# -- the CLI ----------------------------------------------------------------------------------------------------


FILE_BODIES = st.binary(max_size=64) | JSON.map(lambda v: json.dumps(v).encode()) | st.sampled_from([
    b"[" * 100_000 + b"]" * 100_000, b'{"keys": [{"kty": "RSA", "kid": "\\ud800"}]}', b"\xff\xfe\x00\x00",
    b'[{"appId": ["not", "text"], "displayName": null}]', b'{"keys": "no"}', b"1" * 5000])
DURATIONS = st.sampled_from(["0h", "0m", "1h", "-1h", "99999999d", "3650d", "3651d", "1e9h", "24h", "nan", ""]) \
    | HOSTILE_TEXT


def fuzz_cli(examples: int, workdir: Path) -> Tally:
    """``tokenwarden hunt`` with generated times, durations and --jwks/--apps file contents, on a tiny export."""
    from shared.cli.main import main

    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    row = {"TimeGenerated": "2026-03-02T10:00:00Z", "UserPrincipalName": "a@contoso.example", "Type": "SigninLogs"}
    (logs / "SigninLogs.json").write_text(json.dumps(row) + "\n", encoding="utf-8")
    tally = Tally(target="CLI (tokenwarden hunt)")

    @_settings(examples)
    @given(since=st.none() | EXTREME_INSTANTS | HOSTILE_TEXT, until=st.none() | EXTREME_INSTANTS,
           last=st.none() | DURATIONS, jwks=st.none() | FILE_BODIES, apps=st.none() | FILE_BODIES)
    def drive(since: str | None, until: str | None, last: str | None, jwks: bytes | None,
              apps: bytes | None) -> None:
        tally.inputs += 1
        argv = ["hunt", "--logs", str(logs), "--format", "json"]
        for flag, value in (("--since", since), ("--until", until), ("--last", last)):
            if value is not None and "\x00" not in value and _encodable(value):
                argv += [f"{flag}={value}"]
        for flag, content in (("--jwks", jwks), ("--apps", apps)):
            if content is not None:
                path = workdir / flag.strip("-")
                path.write_bytes(content)
                argv += [flag, str(path)]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), capture_logs() as lines:
            try:
                code = main(argv, stdout=out, stderr=err)
            except SystemExit as exit_:
                code = int(exit_.code or 0) if isinstance(exit_.code, int | None) else 2
            except Exception as exc:
                tally.fail(f"{argv[4:]}: raised {type(exc).__name__}: {exc}", traceback=True)
                return
        text = err.getvalue()
        if "Traceback" in text:
            tally.fail(f"{argv[4:]}: traceback on stderr", traceback=True)
        if code == 2 and len([line for line in text.splitlines() if "error" in line]) != 1:
            tally.fail(f"{argv[4:]}: exit 2 without exactly one error line: {text[-300:]!r}")
        _check_logs(tally, lines, 0, f"cli {argv[4:]}")

    drive()
    return tally

