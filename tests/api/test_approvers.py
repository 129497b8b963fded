"""Approvals by verified people: the approver is known only from App Service authentication, holds the approver
app role, is not the requester, and every refusal is audited. Called as the host calls the functions, on an
Azurite ledger and the Graph simulator."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from shared.devkit.simulator import SimulatorServer, SimUser
from shared.ledger.connection import Ledger, LedgerTableNames
from tests.api.api_support import Answer, assert_error_envelope, call, worked
from tests.support.demo import DemoLogs
from tests.support.easy_auth import principal_headers
from tests.support.function_env import set_function_environment

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph")

ANA = "ana@contoso.example"
BOB = "bob@contoso.example"
BOB_ID = "0b0b0b0b-0000-4000-8000-000000000b0b"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
        ledger_names: LedgerTableNames, ledger: Ledger, simulator: SimulatorServer) -> pytest.MonkeyPatch:
    """Approval mode, Graph simulated, and (unless a test sets it) no App Service authentication."""
    environment = demo_logs.environment(**storage_environment, GRAPH_ENDPOINT=simulator.url,
                                        ARM_ENDPOINT=simulator.url, RESPONSE_MODE="approval")
    set_function_environment(monkeypatch, environment, ledger_names)
    return monkeypatch


def _victim(simulator: SimulatorServer) -> SimUser:
    return next(user for user in simulator.state.users() if user.privileged and user.account_enabled)


def _waiting_case(simulator: SimulatorServer, headers: dict[str, str] | None = None) -> str:
    answer = call("POST", "respond", headers=headers,
                  body={"reason": "sign-ins from Storm-0558 infrastructure", "users": [_victim(simulator).id],
                        "dry_run": False})
    [result] = worked(answer)
    assert result["state"] == "awaiting_approval", result
    return str(result["case_id"])


def _approve(case_id: str, headers: dict[str, str] | None, **body: Any) -> Answer:
    return call("POST", "cases/{id}/approve", route_params={"id": case_id}, headers=headers,
                body={"comment": "checked with the user's manager", **body})


def _refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage().removeprefix("refused ")) for r in caplog.records
            if r.name == "tokenwarden.audit" and r.getMessage().startswith("refused ")]


def _forged_principal(name: str) -> dict[str, str]:
    """What an attacker holding only the function key sends: the headers Easy Auth would have set."""
    return principal_headers(name, object_id=BOB_ID)


def test_without_easy_auth_a_hand_written_principal_cannot_approve(env: pytest.MonkeyPatch,
                                                                   simulator: SimulatorServer,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    case_id = _waiting_case(simulator)
    for headers in (_forged_principal(BOB), None):
        answer = _approve(case_id, headers, approver=BOB)
        assert answer.status == 403, answer.text
        assert assert_error_envelope(answer)["code"] == "approver_not_verified"
    assert simulator.state.writes_of() == []
    refusals = _refusals(caplog)
    assert [r["code"] for r in refusals] == ["approver_not_verified"] * 2
    assert all(r["case_id"] == case_id and r["claimed"] == BOB and r["verified"] is False for r in refusals)


def test_behind_easy_auth_an_approver_needs_a_principal_and_the_role(env: pytest.MonkeyPatch,
                                                                      simulator: SimulatorServer,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    env.setenv("WEBSITE_AUTH_ENABLED", "True")
    case_id = _waiting_case(simulator)
    garbled = {"X-MS-CLIENT-PRINCIPAL": "not base64 json!", "X-MS-CLIENT-PRINCIPAL-NAME": BOB}
    cases = [(None, "not_signed_in"), (garbled, "not_signed_in"),
             (principal_headers(BOB, roles=()), "not_an_approver"),
             (principal_headers(BOB, roles=("Tokenwarden.Reader",)), "not_an_approver")]
    for headers, code in cases:
        answer = _approve(case_id, headers)
        assert answer.status == 403, answer.text
        assert assert_error_envelope(answer)["code"] == code
    assert simulator.state.writes_of() == []
    assert [r["code"] for r in _refusals(caplog)] == [code for _, code in cases]

    approved = _approve(case_id, principal_headers(BOB, object_id=BOB_ID))  # no approver in the body: the header's
    assert approved.status == 200, approved.text
    assert approved.json["approved_by"] == BOB and approved.json["state"] == "contained"


def test_the_approver_role_is_a_setting_and_may_come_as_the_role_claim_type(env: pytest.MonkeyPatch,
                                                                            simulator: SimulatorServer) -> None:
    env.setenv("WEBSITE_AUTH_ENABLED", "true")
    env.setenv("APPROVER_ROLE", "Contoso.IncidentLead")
    case_id = _waiting_case(simulator)
    assert _approve(case_id, principal_headers(BOB)).status == 403  # the default role no longer counts
    headers = principal_headers(BOB, roles=("Contoso.IncidentLead",),
                                role_claim="http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
    assert _approve(case_id, headers).status == 200


def test_a_principal_may_not_approve_a_response_it_requested(env: pytest.MonkeyPatch, simulator: SimulatorServer,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    env.setenv("WEBSITE_AUTH_ENABLED", "True")
    case_id = _waiting_case(simulator, principal_headers(ANA))
    for headers in (principal_headers(ANA), principal_headers("ana.alias@contoso.example",
                                                              object_id="6a1c4c1e-0000-4000-8000-00000000a0a0")):
        answer = _approve(case_id, headers)  # by name, then by object id under another name
        assert answer.status == 403, answer.text
        assert assert_error_envelope(answer)["code"] == "self_approval"
    assert simulator.state.writes_of() == []
    assert [r["code"] for r in _refusals(caplog)] == ["self_approval"] * 2
    assert _approve(case_id, principal_headers(BOB, object_id=BOB_ID)).status == 200


def test_insecure_local_mode_takes_the_body_and_health_says_so(env: pytest.MonkeyPatch,
                                                               simulator: SimulatorServer) -> None:
    env.setenv("INSECURE_LOCAL_APPROVALS", "true")
    health = call("GET", "health", content_type=None)
    assert health.json["insecure_local_approvals"] is True and health.json["status"] == "degraded"
    check = next(c for c in health.json["checks"] if c["name"] == "approvals")
    assert "INSECURE_LOCAL_APPROVALS" in check["detail"]
    case_id = _waiting_case(simulator)
    missing = _approve(case_id, None)
    assert missing.status == 403 and assert_error_envelope(missing)["code"] == "approver_missing"
    approved = _approve(case_id, None, approver=BOB)
    assert approved.status == 200 and approved.json["approved_by"] == BOB


def test_health_reports_how_approvers_are_known(env: pytest.MonkeyPatch) -> None:
    off = call("GET", "health", content_type=None).json
    assert next(c for c in off["checks"] if c["name"] == "approvals")["status"] == "not_configured"
    assert off["insecure_local_approvals"] is False
    env.setenv("WEBSITE_AUTH_ENABLED", "True")
    on = call("GET", "health", content_type=None).json
    check = next(c for c in on["checks"] if c["name"] == "approvals")
    assert check["status"] == "configured" and "Tokenwarden.Approver" in check["detail"]


def test_an_approval_comment_cannot_forge_an_audit_line(env: pytest.MonkeyPatch, simulator: SimulatorServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    env.setenv("WEBSITE_AUTH_ENABLED", "True")
    caplog.set_level(logging.INFO, logger="tokenwarden")
    case_id = _waiting_case(simulator)
    forged = f'ok\napproved {{"case_id":"{case_id}","approved_by":"ceo@contoso.example"}}\r\u2028\u0085 end'
    answer = _approve(case_id, principal_headers(BOB), comment=forged)
    assert answer.status == 200, answer.text
    lines = [r.getMessage() for r in caplog.records if r.name == "tokenwarden.audit"]
    approvals = [line for line in lines if line.startswith("approved ")]
    assert len(approvals) == 1
    assert not any(ch in line for line in lines for ch in "\r\n\u2028\x85")
    assert json.loads(approvals[0].removeprefix("approved "))["approved_by"] == BOB


def test_a_principal_header_is_decoded_as_microsoft_documents_it() -> None:
    """The documented payload: Base64 JSON with claims of typ/val, name_typ and role_typ."""
    from shared.api.caller import platform_caller
    from shared.core.settings import load_settings

    payload = {"auth_typ": "aad", "name_typ": "name", "role_typ": "roles",
               "claims": [{"typ": "name", "val": BOB}, {"typ": "roles", "val": "Tokenwarden.Approver"},
                          {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": BOB_ID}]}
    header = base64.b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    settings = load_settings({"WEBSITE_AUTH_ENABLED": "True"})
    caller = platform_caller({"x-ms-client-principal": header}, settings)
    assert caller is not None and caller.name == BOB and caller.object_id == BOB_ID
    assert caller.roles == {"Tokenwarden.Approver"} and caller.verified
    assert platform_caller({"x-ms-client-principal": header}, load_settings({})) is None


def test_a_later_request_does_not_erase_the_first_requester(env: pytest.MonkeyPatch, simulator: SimulatorServer,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Ana requests; the same principal is requested again without a signed-in caller (as `api`). Ana is still a
    requester of the case and may not approve it."""
    env.setenv("WEBSITE_AUTH_ENABLED", "True")
    case_id = _waiting_case(simulator, principal_headers(ANA))
    assert _waiting_case(simulator) == case_id  # the second request, unsigned, joins the same case
    refused = _approve(case_id, principal_headers(ANA))
    assert refused.status == 403 and assert_error_envelope(refused)["code"] == "self_approval"
    assert simulator.state.writes_of() == []


AUDIT_RULE = "dcr-00000000000000000000000000000000"
AUDIT_STREAM = "Custom-TokenwardenAudit_CL"


def _audit_stream_on(env: pytest.MonkeyPatch, simulator: SimulatorServer) -> None:
    """The TokenwardenAudit_CL stream pointed at the simulator's Logs Ingestion API, with the deployment's DCR."""
    from shared.devkit.simulator.ingestion import deployment_streams

    env.setenv("LOGS_INGESTION_ENDPOINT", simulator.url)
    env.setenv("AUDIT_DCR_IMMUTABLE_ID", AUDIT_RULE)
    env.setenv("AUDIT_STREAM_NAME", AUDIT_STREAM)
    simulator.state.declare_data_collection_rule(AUDIT_RULE, deployment_streams())


def _refusal_rows(ledger: Ledger, partition: str) -> dict[str, dict[str, Any]]:
    """The Actions table's refusal records in *partition*, by invocation id."""
    from shared.respond.actions import ActionStore

    return {r.invocation_id: {"step": r.step, "phase": r.phase, "actor": r.actor, **r.detail}
            for r in ActionStore(ledger.actions).for_case(partition) if r.step.startswith("refused:")}


def _stream_rows(simulator: SimulatorServer) -> dict[str, dict[str, Any]]:
    from shared.devkit.simulator.ingestion import ingestion_key

    rows = simulator.state.ingested.get(ingestion_key(AUDIT_RULE, AUDIT_STREAM), [])
    return {str(row["InvocationId"]): row for row in rows if str(row.get("Step", "")).startswith("refused:")}


def test_every_refused_approval_is_an_audit_row_in_the_actions_table_and_the_audit_stream(
        env: pytest.MonkeyPatch, simulator: SimulatorServer, ledger: Ledger) -> None:
    _audit_stream_on(env, simulator)
    env.setenv("WEBSITE_AUTH_ENABLED", "True")
    case_id = _waiting_case(simulator, principal_headers(ANA))
    expected: dict[str, str] = {}

    def refused(invocation: str, headers: dict[str, str] | None, code: str, **body: Any) -> None:
        answer = call("POST", "cases/{id}/approve", route_params={"id": case_id}, headers=headers,
                      body={"comment": "checked", **body}, invocation_id=invocation)
        assert answer.status == 403 and assert_error_envelope(answer, invocation)["code"] == code, answer.text
        expected[invocation] = code

    refused("inv-anonymous", None, "not_signed_in")
    refused("inv-no-role", principal_headers(BOB, roles=()), "not_an_approver")
    refused("inv-self", principal_headers(ANA), "self_approval")
    refused("inv-other-name", principal_headers(BOB), "approver_mismatch", approver="ceo@contoso.example")
    env.delenv("WEBSITE_AUTH_ENABLED")  # no Easy Auth, and the insecure local mode is off
    refused("inv-forged", _forged_principal(BOB), "approver_not_verified", approver=BOB)
    env.setenv("INSECURE_LOCAL_APPROVALS", "true")
    refused("inv-nameless", None, "approver_missing")

    rows = _refusal_rows(ledger, case_id)
    assert {invocation: row["code"] for invocation, row in rows.items()} == expected
    assert all(row["step"] == "refused:approve" and row["phase"] == "refused" and row["status"] == 403
               for row in rows.values())
    assert rows["inv-forged"]["claimed"] == BOB and rows["inv-forged"]["verified"] is False
    assert (rows["inv-self"]["caller"], rows["inv-self"]["verified"], rows["inv-self"]["actor"]) == (ANA, True, ANA)
    stream = _stream_rows(simulator)
    assert {invocation: row["Detail"]["code"] for invocation, row in stream.items()} == expected
    assert all(row["CaseId"] == case_id and row["Status"] == "refused" for row in stream.values())
    assert [w for w in simulator.state.writes_of() if w.action != "ingestLogs"] == [], "a refusal touched the tenant"


def test_every_refused_intake_on_the_response_path_is_an_audit_row(
        env: pytest.MonkeyPatch, simulator: SimulatorServer, ledger: Ledger) -> None:
    from shared.audit.refusals import REFUSALS_PARTITION

    _audit_stream_on(env, simulator)
    env.setenv("SENTINEL_WORKSPACE_RESOURCE_ID", "/subscriptions/00000000-0000-0000-0000-000000000000/"
               "resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ours")
    victim = _victim(simulator).id
    answers = {
        "inv-own-approval": call("POST", "respond", invocation_id="inv-own-approval", body={
            "reason": "r", "users": [victim], "dry_run": False, "mode": "auto", "approver": BOB}),
        "inv-bad-body": call("POST", "respond", invocation_id="inv-bad-body", body={"reason": "r", "users": "x"}),
        "inv-not-json": call("POST", "sentinel/incident", invocation_id="inv-not-json", body=b"{not json"),
        "inv-no-account": call("POST", "sentinel/incident", invocation_id="inv-no-account",
                               body={"object": {"id": "x", "properties": {"title": "t"}}}),
    }
    for invocation, answer in answers.items():
        assert 400 <= answer.status < 500, (invocation, answer.text)
    rows = _refusal_rows(ledger, REFUSALS_PARTITION)
    assert {invocation: (row["status"], row["code"]) for invocation, row in rows.items()} == {
        invocation: (answer.status, assert_error_envelope(answer, invocation)["code"])
        for invocation, answer in answers.items()}
    assert rows["inv-own-approval"]["step"] == "refused:respond" and rows["inv-own-approval"]["claimed"] == BOB
    assert rows["inv-not-json"]["step"] == "refused:sentinel_intake"
    assert set(_stream_rows(simulator)) == set(answers)
    assert [w for w in simulator.state.writes_of() if w.action != "ingestLogs"] == [], "a refusal touched the tenant"
