"""The HTTP API end to end: the registered functions, called with func.HttpRequest, on an Azurite ledger."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from shared.api.errors import ApiError, api_error_for, redact
from shared.api.http import handle
from shared.cases.model import InvalidTransition
from shared.core.errors import ConfigurationError, DataError, QueryError, ThrottledError, UpstreamError
from shared.core.settings import load_settings
from shared.detect.ruleset import load_rules
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.scan import ScanReport, scan
from shared.jobs.wiring import build_hunt_context, build_log_source
from shared.ledger.case_store import CaseStore
from shared.ledger.checkpoint_store import CheckpointStore
from shared.ledger.connection import Ledger, LedgerTableNames
from shared.respond.actions import ActionStore
from tests.api.api_support import Answer, assert_error_envelope, call
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.function_env import clear_settings, set_function_environment

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

ROOT = Path(__file__).resolve().parents[2]
NOW = DEMO_END + timedelta(minutes=5)
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
WEBHOOK = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sp=%2F&sig=S3cr3tSig"


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
            ledger_names: LedgerTableNames, ledger: Ledger) -> dict[str, str]:
    """The process environment the functions read, and their ledger opened on this test's tables."""
    environment = demo_logs.environment(**storage_environment)
    set_function_environment(monkeypatch, environment, ledger_names)
    return environment


@pytest.fixture
def seeded(api_env: dict[str, str], ledger: Ledger) -> ScanReport:
    """The demo tenant scanned into the ledger; one case triaged, with a recorded plan."""
    settings = load_settings({**api_env, "SCAN_LOOKBACK": "48h", "SCAN_MAX_CHUNK": "49h"})
    source = build_log_source(settings)
    try:
        report = scan(source, load_rules(), context=build_hunt_context(settings), ledger=ledger,
                      policy=ScanPolicy.from_settings(settings), now=NOW)
    finally:
        source.close()
    assert len(report.cases_created) >= 3
    return report


def _storm_case(ledger: Ledger) -> str:
    cases = CaseStore(ledger.cases).cases()
    return next(c.case_id for c in cases if "compromised-signing-key" in c.rule_ids)


# -- GET /cases -----------------------------------------------------------------------------------------------


def test_case_list_pages_newest_first_and_covers_every_case(seeded: ScanReport, ledger: Ledger) -> None:
    stored = {c.case_id for c in CaseStore(ledger.cases).cases()}
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    for _ in range(50):
        params = {"limit": "2", "code": "the-host-passes-the-function-key"}
        if cursor:
            params["cursor"] = cursor
        answer = call("GET", "cases", params=params)
        assert answer.status == 200, answer.text
        assert answer.headers["X-Invocation-Id"] == "test-invocation"
        page = answer.json
        assert len(page["cases"]) <= 2
        seen.extend(page["cases"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [c["case_id"] for c in seen]
    assert len(ids) == len(set(ids)) and set(ids) == stored
    updated = [c["updated_at"] for c in seen]
    assert updated == sorted(updated, reverse=True)


def test_case_list_filters_by_state_and_severity(seeded: ScanReport, ledger: Ledger) -> None:
    storm = _storm_case(ledger)
    CaseStore(ledger.cases).transition(storm, "closed", reason="false positive in test", at=NOW)
    closed = call("GET", "cases", params={"state": "closed"}).json["cases"]
    assert [c["case_id"] for c in closed] == [storm]
    high = call("GET", "cases", params={"severity": "High", "limit": "200"}).json["cases"]
    assert high and all(c["severity"] == "High" for c in high)
    new_and_high = call("GET", "cases", params={"severity": "High", "state": "new"}).json["cases"]
    assert storm not in {c["case_id"] for c in new_and_high}


@pytest.mark.parametrize(("params", "loc"), [
    ({"limit": "0"}, "query.limit"),
    ({"limit": "many"}, "query.limit"),
    ({"state": "open"}, "query.state"),
    ({"severity": "high"}, "query.severity"),
    ({"cursor": "not-a-cursor"}, "query.cursor"),
    ({"cursor": "W1siMjAyNiJdXQ"}, "query.cursor"),
])
def test_invalid_case_list_queries_are_422_naming_the_parameter(api_env: dict[str, str], params: dict[str, str],
                                                                loc: str) -> None:
    answer = call("GET", "cases", params=params)
    assert answer.status == 422
    error = assert_error_envelope(answer)
    assert error["code"] == "invalid_query"
    assert [d["loc"] for d in error["details"]] == [loc]


# -- GET /cases/{id} ------------------------------------------------------------------------------------------


def test_case_detail_has_findings_enrichment_decision_plan_and_action_log(seeded: ScanReport, ledger: Ledger) -> None:
    storm = _storm_case(ledger)
    decision = {"severity": "High", "playbook": "contain-identity", "matched": "compromised-key-in-use",
                "reason": "triage rule 'compromised-key-in-use'"}
    CaseStore(ledger.cases).record_triage(storm, enrichment={"users": [], "ips": [], "keys": [], "degraded": []},
                                          decision=decision, severity="High", reason="triaged", at=NOW)
    ActionStore(ledger.actions).record(storm, "revoke_sessions", "user-1", phase="planned", mode="approval",
                                       invocation_id="inv-plan", detail={"mode": "approval"}, now=NOW)
    answer = call("GET", "cases/{id}", route_params={"id": storm})
    assert answer.status == 200, answer.text
    case = answer.json
    assert case["case_id"] == storm and case["state"] == "enriched"
    assert case["findings"] and all(f["rule_id"] for f in case["findings"])
    assert any(f["rule_id"] == "compromised-signing-key" for f in case["findings"])
    assert case["finding_count"] >= 1 and case["findings_truncated"] is False
    assert case["enrichment"]["users"] == [] and case["decision"] == decision
    assert case["plan"]["playbook"] == "contain-identity"
    assert "revoke_sessions" in [s["step"] for s in case["plan"]["steps"]]
    assert [(a["step"], a["phase"], a["invocation_id"]) for a in case["actions"]] == [
        ("revoke_sessions", "planned", "inv-plan")]
    assert [t["to_state"] for t in case["transitions"]] == ["new", "enriched"]


def test_a_case_before_triage_has_no_plan(seeded: ScanReport, ledger: Ledger) -> None:
    case_id = seeded.cases_created[0]
    case = call("GET", "cases/{id}", route_params={"id": case_id}).json
    assert (case["plan"], case["decision"], case["enrichment"], case["actions"]) == (None, None, None, [])


@pytest.mark.parametrize("case_id", ["case-usr-00000000000000000000-1", "nope", "", "../x", "case#1", "a" * 5000])
def test_unknown_or_malformed_case_ids_are_404(api_env: dict[str, str], case_id: str) -> None:
    answer = call("GET", "cases/{id}", route_params={"id": case_id})
    assert answer.status == 404
    error = assert_error_envelope(answer)
    assert error["code"] == "not_found" and len(error["message"]) < 200


# -- POST /scan -----------------------------------------------------------------------------------------------


def _window(**extra: object) -> dict[str, object]:
    return {"since": (DEMO_END - timedelta(hours=24)).isoformat(), "until": DEMO_END.isoformat(), **extra}


def test_a_dry_run_scan_returns_the_planted_findings_and_stores_nothing(api_env: dict[str, str], ledger: Ledger,
                                                                      demo_logs: DemoLogs) -> None:
    answer = call("POST", "scan", body=_window(dry_run=True))
    assert answer.status == 200, answer.text
    report = answer.json
    assert report["dry_run"] is True and report["recorded"] is None and report["complete"] is True
    planted = {(c.rule_id, c.token_id or c.user_upn) for c in demo_logs.summary.planted if c.kind == "attack"}
    fired = {(f["rule_id"], f["token_id"] or f["user_upn"]) for f in report["findings"]}
    assert planted <= fired
    assert report["findings_total"] == len(report["findings"])
    assert CaseStore(ledger.cases).cases() == []
    assert CheckpointStore(ledger.checkpoints).watermarks() == {}


def test_a_recording_scan_opens_cases_and_leaves_the_checkpoints_alone(api_env: dict[str, str],
                                                                       ledger: Ledger) -> None:
    answer = call("POST", "scan", body=_window(dry_run=False, rules=["compromised-signing-key"]))
    assert answer.status == 200, answer.text
    report = answer.json
    assert [r["rule_id"] for r in report["runs"]] == ["compromised-signing-key"]
    assert report["recorded"]["findings_new"] == report["findings_total"] > 0
    assert set(report["recorded"]["cases_created"]) == {c.case_id for c in CaseStore(ledger.cases).cases()}
    assert CheckpointStore(ledger.checkpoints).watermarks() == {}
    again = call("POST", "scan", body=_window(dry_run=False, rules=["compromised-signing-key"])).json
    assert again["recorded"]["findings_new"] == 0 and again["recorded"]["cases_created"] == []


@pytest.mark.parametrize(("body", "loc"), [
    (_window(until=(DEMO_END - timedelta(days=3)).isoformat()), "body.until"),
    (_window(since=(DEMO_END - timedelta(days=40)).isoformat()), "body.until"),
    ({"since": "2099-01-01T00:00:00Z", "until": "2099-01-02T00:00:00Z"}, "body.until"),
    ({"since": "1999-01-01T00:00:00Z", "until": "1999-01-02T00:00:00Z"}, "body.since"),
    (_window(since="2026-03-01T00:00:00"), "body.since"),
    (_window(rules=["no-such-rule"]), "body.rules"),
    (_window(rules=["Not A Rule"]), "body.rules.0"),
    (_window(dry_run="maybe"), "body.dry_run"),
    (_window(extra=1), "body.extra"),
    ({"until": DEMO_END.isoformat()}, "body.since"),
])
def test_invalid_scan_windows_are_422_naming_the_field(api_env: dict[str, str], body: dict[str, object],
                                                       loc: str) -> None:
    answer = call("POST", "scan", body=body)
    assert answer.status == 422, answer.text
    error = assert_error_envelope(answer)
    assert loc in [d["loc"] for d in error["details"]]


# -- bodies ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [
    (b"x" * (256 * 1024 + 1), "application/json", 413, "body_too_large"),
    (b'{"since": 1', "application/json", 400, "invalid_json"),
    (b"", "application/json", 400, "invalid_json"),
    (b'{"since": NaN}', "application/json", 400, "invalid_json"),
    (b"\xff\xfe\xfa", "application/json", 400, "invalid_json"),
    (b"[" * 100_000, "application/json", 400, "invalid_json"),
    (b"1" * 5000, "application/json", 400, "invalid_json"),
    (b"since=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (b"[]", "application/json", 422, "invalid_body"),
    (b"null", None, 422, "invalid_body"),
])
def test_bad_bodies_get_a_json_error_never_a_500(api_env: dict[str, str], body: bytes, content_type: str | None,
                                                 status: int, code: str) -> None:
    answer = call("POST", "scan", body=body, content_type=content_type)
    assert (answer.status, assert_error_envelope(answer)["code"]) == (status, code)


def test_a_declared_oversized_body_is_refused_before_reading(api_env: dict[str, str]) -> None:
    answer = call("POST", "scan", body=b"{}", headers={"content-length": str(10**9)})
    assert answer.status == 413


# -- GET /health ----------------------------------------------------------------------------------------------


def test_health_is_ok_on_a_reachable_ledger_and_shows_no_secret(api_env: dict[str, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv("LOG_ANALYTICS_WORKSPACE_ID", "00000000-0000-0000-0000-000000000001")
    answer = call("GET", "health")
    assert answer.status == 200, answer.text
    report = answer.json
    assert report["status"] == "ok" and report["invocation_id"] == "test-invocation"
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["ledger"]["status"] == "ok" and checks["settings"]["status"] == "ok"
    assert checks["notify_webhook"] == {"name": "notify_webhook", "status": "configured", "detail": None}
    assert checks["sentinel_workspace"]["status"] == "not_configured"
    for secret in ("AccountKey", api_env["AzureWebJobsStorage"].split("AccountKey=")[1].split(";")[0],
                   "S3cr3tSig", "logic.azure.com", "workflows"):
        assert secret not in answer.text


def test_health_reports_invalid_settings_as_unhealthy_without_raising(api_env: dict[str, str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_WEBHOOK_URL", "http://hooks.example.com/x?sig=S3cr3tSig")  # not https: invalid
    answer = call("GET", "health")
    assert answer.status == 503
    checks = answer.json["checks"]
    assert checks[0]["name"] == "settings" and checks[0]["status"] == "failed"
    assert "NOTIFY_WEBHOOK_URL" in checks[0]["detail"] and "S3cr3tSig" not in answer.text


def test_health_reports_an_unreachable_ledger_without_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)
    monkeypatch.setenv("AzureWebJobsStorage", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
                       f"AccountKey={ACCOUNT_KEY};TableEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    answer = call("GET", "health")
    assert answer.status == 503
    ledger = next(c for c in answer.json["checks"] if c["name"] == "ledger")
    assert ledger["status"] == "failed" and "connection string" in ledger["detail"]
    assert ACCOUNT_KEY[:20] not in answer.text and "127.0.0.1:9" not in answer.text


def test_routes_without_storage_answer_503_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)
    answer = call("GET", "cases")
    assert answer.status == 503
    assert assert_error_envelope(answer)["code"] == "not_configured"


def test_invalid_settings_answer_503_on_every_data_route(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings(monkeypatch)
    monkeypatch.setenv("RESPONSE_MODE", "yolo")
    for method, route, body in (("GET", "cases", b""), ("POST", "scan", _window())):
        answer = call(method, route, body=body)
        assert answer.status == 503 and assert_error_envelope(answer)["code"] == "not_configured"


# -- the error mapping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "status", "code", "retry_after"), [
    (DataError("bad"), 422, "invalid_data", None),
    (ConfigurationError("X is not set"), 503, "not_configured", None),
    (ThrottledError("slow down", status=429, retry_after=2.2), 429, "throttled", "3"),
    (ThrottledError("slow down", status=429), 429, "throttled", "5"),
    (UpstreamError("graph 500", status=500), 503, "upstream_unavailable", None),
    (UpstreamError("timed out"), 503, "upstream_unavailable", None),
    (UpstreamError("graph 403", status=403), 502, "upstream_error", None),
    (QueryError("rule failed", rule_id="x"), 502, "query_failed", None),
    (InvalidTransition("case is closed"), 409, "conflict", None),
    (ApiError(418, "teapot", "short and stout"), 418, "teapot", None),
])
def test_errors_map_by_class(error: Exception, status: int, code: str, retry_after: str | None) -> None:
    mapped = api_error_for(error)
    assert mapped is not None
    assert (mapped.status, mapped.code, mapped.headers.get("Retry-After")) == (status, code, retry_after)


def test_an_unexpected_exception_is_a_json_500_with_the_traceback_only_in_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    import azure.functions as func

    def broken(_call: object) -> object:
        raise KeyError("AccountKey=abc internal detail")

    class Context:
        invocation_id = "inv-500"

    request = func.HttpRequest("GET", "http://localhost/api/x?code=functionkey", body=b"")
    with caplog.at_level(logging.ERROR, logger="tokenwarden.api"):
        response = handle(request, Context(), broken)  # type: ignore[arg-type]
    answer = Answer(status=response.status_code, headers=dict(response.headers),
                    text=response.get_body().decode())
    assert answer.status == 500
    assert assert_error_envelope(answer, "inv-500")["code"] == "internal_error"
    assert "internal detail" not in answer.text and "Traceback" not in answer.text
    assert any(r.exc_info and "inv-500" in r.getMessage() for r in caplog.records)
    assert all("functionkey" not in r.getMessage() for r in caplog.records)


def test_messages_are_redacted_before_they_leave() -> None:
    text = redact(f"bad AccountKey={ACCOUNT_KEY}; at {WEBHOOK} with Bearer eyJhbGciOi.eyJzdWIi.c2ln\nsecond line")
    assert ACCOUNT_KEY not in text and "S3cr3tSig" not in text and "eyJzdWIi" not in text
    assert "\n" not in text


def test_importing_the_function_app_does_not_import_pydantic() -> None:
    code = ("import sys, function_app, functions.http_api; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'shared'))))")
    result = subprocess.run([sys.executable, "-c", "import json; " + code], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
