"""The action routes end to end: POST /tokens/analyze, POST /respond and POST /cases/{id}/approve, called as
the host calls them, on an Azurite ledger and the Graph simulator serving the demo tenant."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.devkit.simulator import SimulatorServer, SimUser
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger, LedgerTableNames
from tests.api.api_support import Answer, assert_error_envelope, call, worked
from tests.support.demo import DemoLogs
from tests.support.easy_auth import principal_headers
from tests.support.function_env import set_function_environment

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph")

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
COMMON = "https://login.microsoftonline.com/{tenantid}/v2.0"
STORM_KID = "1LTMzakihiRla_8z2BEJVXeWMqo"
ORG_APP = "00000002-0000-0ff1-ce00-000000000000"
SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ROGUE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def action_env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
               ledger_names: LedgerTableNames, ledger: Ledger, simulator: SimulatorServer) -> dict[str, str]:
    """The functions' environment: demo logs, Azurite ledger on this test's tables, Graph and ARM simulated, and
    App Service authentication on (the platform's WEBSITE_AUTH_ENABLED), so approvers are signed in."""
    environment = demo_logs.environment(**storage_environment, GRAPH_ENDPOINT=simulator.url,
                                        ARM_ENDPOINT=simulator.url, RESPONSE_MODE="approval",
                                        WEBSITE_AUTH_ENABLED="True")
    set_function_environment(monkeypatch, environment, ledger_names)
    return environment


def _privileged(simulator: SimulatorServer) -> SimUser:
    return next(user for user in simulator.state.users() if user.privileged and user.account_enabled)


def _jwks_file(tmp_path: Path) -> Path:
    entry: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
    entry.update({"kid": "org-key-1", "x5t": "org-key-1", "use": "sig", "issuer": COMMON})
    path = tmp_path / "organizations.json"
    path.write_text(json.dumps({"keys": [entry]}), encoding="utf-8")
    return path


def _token(key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = "org-key-1", **overrides: Any) -> str:
    issued = int(datetime.now(UTC).timestamp()) - 60
    claims = {"aud": ORG_APP, "iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "tid": TENANT,
              "ver": "2.0", "iat": issued, "nbf": issued, "exp": issued + 3600, **overrides}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _respond(**body: Any) -> Answer:
    return call("POST", "respond", body={"reason": "analyst confirmed the sign-ins are the attacker's", **body})


def _approve(case_id: str, approver: str = "ana@contoso.example") -> Answer:
    return call("POST", "cases/{id}/approve", route_params={"id": case_id}, headers=principal_headers(approver),
                body={"approver": approver, "comment": "confirmed with the user's manager"})


# -- POST /tokens/analyze ---------------------------------------------------------------------------------


def test_analyze_token_signed_by_a_configured_jwks_file_is_valid(action_env: dict[str, str], tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_SOURCES", str(_jwks_file(tmp_path)))
    answer = call("POST", "tokens/analyze", body={"token": _token(), "audience": ORG_APP})
    assert answer.status == 200, answer.text
    verdict = answer.json
    assert verdict["verdict"] == "valid" and verdict["reasons"] == []
    assert verdict["signature_verified"] is True and verdict["published_by"] == [COMMON]
    assert verdict["claims"]["tid"] == TENANT


def test_analyze_token_with_the_storm_0558_kid_is_a_compromised_key(action_env: dict[str, str], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_SOURCES", str(_jwks_file(tmp_path)))
    answer = call("POST", "tokens/analyze", body={"token": _token(ROGUE_KEY, kid=STORM_KID)})
    assert answer.status == 200, answer.text
    assert answer.json["verdict"] == "compromised_key"
    assert answer.json["compromised_key"] and answer.json["signature_verified"] is False


def test_analyze_token_audience_is_checked_when_named(action_env: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_SOURCES", str(_jwks_file(tmp_path)))
    answer = call("POST", "tokens/analyze", body={"token": _token(), "audience": "api://someone-else"})
    assert answer.status == 200 and answer.json["verdict"] == "audience_mismatch"


@pytest.mark.parametrize(("token", "code"), [("a.b.c", "invalid_data"), ("eyJhbGciOiJub25lIn0.e30", "invalid_body"),
                                             ("not a token", "invalid_body"), ("x" * 17000, "invalid_body")])
def test_analyze_garbage_is_422_and_the_token_is_not_echoed(action_env: dict[str, str], token: str,
                                                            code: str) -> None:
    answer = call("POST", "tokens/analyze", body={"token": token})
    assert answer.status == 422, answer.text
    assert assert_error_envelope(answer)["code"] == code
    assert token not in answer.text


def test_analyze_answers_503_when_an_issuer_cannot_be_read(action_env: dict[str, str], tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    unreachable = "http://127.0.0.1:9/common/v2.0/.well-known/openid-configuration"
    monkeypatch.setenv("KEY_SOURCES", f"{_jwks_file(tmp_path)},{unreachable}")
    answer = call("POST", "tokens/analyze", body={"token": _token()})
    assert answer.status == 503, answer.text
    assert assert_error_envelope(answer)["code"] == "upstream_unavailable"


def test_analyze_answers_503_when_a_jwks_file_is_missing(action_env: dict[str, str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_SOURCES", str(tmp_path / "missing.json"))
    answer = call("POST", "tokens/analyze", body={"token": _token()})
    assert answer.status == 503 and assert_error_envelope(answer)["code"] == "not_configured"


# -- POST /respond and POST /cases/{id}/approve ------------------------------------------------------------


def test_respond_dry_run_records_the_plan_and_writes_nothing(action_env: dict[str, str], ledger: Ledger,
                                                             simulator: SimulatorServer) -> None:
    user = _privileged(simulator)
    answer = _respond(users=[user.user_principal_name], approver="ana@contoso.example")
    body = answer.json
    assert body["dry_run"] is True and body["mode"] == "dry-run" and body["approved_by"] is None
    [result] = worked(answer)
    assert result["outcomes"] and {o["phase"] for o in result["outcomes"]} == {"planned"}
    assert result["state"] == "enriched"
    assert simulator.state.writes_of() == []
    case = CaseStore(ledger.cases).get(result["case_id"])
    assert case is not None and "manual-response" in case.rule_ids


def test_respond_in_approval_mode_waits_then_approval_contains_once(action_env: dict[str, str],
                                                                    simulator: SimulatorServer) -> None:
    user = _privileged(simulator)
    answer = _respond(users=[user.id], dry_run=False, mode="auto")  # auto without an approver: no approval
    assert answer.json["mode"] == "approval" and answer.json["approved_by"] is None
    [result] = worked(answer)
    assert result["state"] == "awaiting_approval"
    assert simulator.state.writes_of("revokeSignInSessions") == []

    approved = _approve(result["case_id"])
    assert approved.status == 200, approved.text
    assert approved.json["state"] == "contained" and approved.json["approved_by"] == "ana@contoso.example"
    phases = {o["step"]: o["phase"] for o in approved.json["outcomes"]}
    assert phases["revoke_sessions"] == "succeeded"
    # An administrator is never disabled by Tokenwarden, approved or not: Graph would refuse it.
    assert phases["disable_user"] == "skipped" and simulator.state.writes_of("updateUser") == []
    assert len(simulator.state.writes_of("revokeSignInSessions", user.id)) == 1

    again = _approve(result["case_id"])
    assert again.status == 409, again.text
    error = assert_error_envelope(again)
    assert error["code"] == "conflict" and "contained" in error["message"]
    assert len(simulator.state.writes_of("revokeSignInSessions", user.id)) == 1


def test_behind_easy_auth_the_approver_is_the_signed_in_caller(action_env: dict[str, str],
                                                              simulator: SimulatorServer) -> None:
    user = _privileged(simulator)
    [result] = worked(_respond(users=[user.id], dry_run=False, mode="auto"))
    case_id = result["case_id"]
    headers = principal_headers("bob@contoso.example")
    refused = call("POST", "cases/{id}/approve", route_params={"id": case_id}, headers=headers,
                   body={"approver": "ana@contoso.example"})
    assert refused.status == 403 and assert_error_envelope(refused)["code"] == "approver_mismatch"
    assert simulator.state.writes_of("revokeSignInSessions") == []
    approved = call("POST", "cases/{id}/approve", route_params={"id": case_id}, headers=headers,
                    body={"approver": "BOB@contoso.example"})
    assert approved.status == 200 and approved.json["approved_by"] == "bob@contoso.example"


def test_a_request_is_never_its_own_approval(action_env: dict[str, str], simulator: SimulatorServer,
                                             caplog: pytest.LogCaptureFixture) -> None:
    user = _privileged(simulator)
    answer = call("POST", "respond", headers=principal_headers("ana@contoso.example"),
                  body={"reason": "analyst confirmed", "users": [user.user_principal_name], "dry_run": False,
                        "mode": "auto", "approver": "ana@contoso.example"})
    assert answer.status == 403, answer.text
    assert assert_error_envelope(answer)["code"] == "self_approval"
    assert simulator.state.writes_of() == []
    assert any('"code":"self_approval"' in r.getMessage() for r in caplog.records if r.name == "tokenwarden.audit")


def test_respond_cannot_widen_a_dry_run_deployment(action_env: dict[str, str], simulator: SimulatorServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESPONSE_MODE", "dry-run")
    user = _privileged(simulator)
    answer = _respond(users=[user.id], dry_run=False, mode="auto", approver="ana@contoso.example")
    assert answer.json["mode"] == "dry-run" and answer.json["approved_by"] is None
    worked(answer)
    assert simulator.state.writes_of() == []


def test_a_protected_principal_stays_refused_when_approved(action_env: dict[str, str], simulator: SimulatorServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    user = _privileged(simulator)
    monkeypatch.setenv("PROTECTED_PRINCIPALS", user.user_principal_name)
    answer = _respond(users=[user.id], dry_run=False)
    [result] = worked(answer)
    assert result["state"] == "awaiting_approval" and "protected principal" in result["reason"]

    approved = _approve(result["case_id"])
    assert approved.status == 200, approved.text
    assert approved.json["state"] == "awaiting_approval" and "protected principal" in approved.json["reason"]
    graph_steps = [o for o in approved.json["outcomes"] if o["step"] in ("revoke_sessions", "disable_user")]
    assert graph_steps and {o["phase"] for o in graph_steps} == {"refused"}
    assert simulator.state.writes_of("revokeSignInSessions") == []
    assert simulator.state.writes_of("updateUser") == []


def test_respond_names_at_most_100_principals(action_env: dict[str, str]) -> None:
    users = [f"user{i}@contoso.example" for i in range(60)]
    apps = [f"00000000-0000-0000-0000-{i:012d}" for i in range(41)]
    answer = _respond(users=users, apps=apps)
    assert answer.status == 422
    assert "at most 100" in assert_error_envelope(answer)["message"]


@pytest.mark.parametrize("case_id", ["case-usr-0123456789abcdef0123-1", "no-such-case", "../cases"])
def test_approving_an_unknown_case_is_404(action_env: dict[str, str], case_id: str) -> None:
    answer = _approve(case_id)
    assert answer.status == 404, answer.text
    assert assert_error_envelope(answer)["code"] == "not_found"


def test_approve_body_is_validated(action_env: dict[str, str]) -> None:
    answer = call("POST", "cases/{id}/approve", route_params={"id": "case-usr-0123456789abcdef0123-1"},
                  headers=principal_headers("ana@contoso.example"),
                  body={"comment": "a typo'd field", "approvr": "ana@contoso.example"})
    assert answer.status == 422 and assert_error_envelope(answer)["code"] == "invalid_body"


def test_a_repeated_respond_request_is_the_same_run(action_env: dict[str, str], simulator: SimulatorServer) -> None:
    user = _privileged(simulator)
    first = _respond(users=[user.id])
    second = _respond(users=[user.id.upper()])
    assert first.status == second.status == 202
    assert first.json["run_id"] == second.json["run_id"]
    assert first.json["cases"][0]["case_id"] == second.json["cases"][0]["case_id"]


def test_respond_when_graph_is_unreachable_never_claims_containment(action_env: dict[str, str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPH_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("ARM_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("RESPONSE_MODE", "auto")
    answer = _respond(users=["someone@contoso.example"], apps=[ORG_APP], dry_run=False, mode="auto")
    # Graph is down, so the UPN never resolved to an object id, and an app is no user: no step can act on
    # either case. Both are reported and left for an analyst, never claimed "contained".
    results = worked(answer)
    assert {r["state"] for r in results} == {"enriched"}, results
    assert not any(o["step"] in ("revoke_sessions", "disable_user") for r in results for o in r["outcomes"])
