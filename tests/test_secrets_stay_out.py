"""No bearer token or signed JWT reaches a log line, an audit row, the ledger or an API answer, even when callers
paste one into every free-text field: a respond reason and approver, an approval comment, a user agent, the Easy
Auth token headers, a Sentinel incident's title, description and entities, an app's token-anomaly report and a
respond message. The functions run as the host runs them, on Azurite, the Graph/ARM simulator (with its Logs
Ingestion endpoint for the audit stream) and the demo logs; then all four sinks are searched for the secrets."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
import jwt
import pytest
from azure.functions.queue import QueueMessage
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.core.safetext import SIGNATURE_REMOVED
from shared.devkit.simulator import SimulatorServer
from shared.devkit.simulator.ingestion import deployment_streams
from shared.ledger.connection import Ledger, LedgerTableNames
from tests.api.api_support import Answer, call, deliver
from tests.support.demo import DemoLogs
from tests.support.easy_auth import principal_headers
from tests.support.function_env import QueueOutput, set_function_environment
from tests.support.fuzzing import capture_logs

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph")

WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-tokenwarden/providers/"
             "Microsoft.OperationalInsights/workspaces/log-tokenwarden")
TRIGGER = Path(__file__).parent / "fixtures" / "sentinel_incident_trigger.json"
RULE = "dcr-00000000000000000000000000000000"
STREAM = "Custom-TokenwardenAudit_CL"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TOKEN = jwt.encode({"aud": "https://graph.microsoft.com", "uti": "pasted-uti", "tid": "t", "exp": 4102444800},
                   KEY, algorithm="RS256", headers={"kid": "pasted-kid"})
HEADER, CLAIMS, SIGNATURE = TOKEN.split(".")
OPAQUE = "EwBwA8l6BAAUbDba3x2OMJElkF7gJ4z_opaque_refresh_token_value"
"""An opaque (non-JWT) bearer credential, as a Microsoft account access token looks."""
PASTED = f"see Authorization: Bearer {TOKEN} and bearer {OPAQUE}"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, demo_logs: DemoLogs, storage_environment: dict[str, str],
        ledger_names: LedgerTableNames, ledger: Ledger, simulator: SimulatorServer) -> Ledger:
    environment = demo_logs.environment(
        **storage_environment, GRAPH_ENDPOINT=simulator.url, ARM_ENDPOINT=simulator.url, RESPONSE_MODE="approval",
        SENTINEL_WORKSPACE_RESOURCE_ID=WORKSPACE, WEBSITE_AUTH_ENABLED="True", LOGS_INGESTION_ENDPOINT=simulator.url,
        AUDIT_DCR_IMMUTABLE_ID=RULE, AUDIT_STREAM_NAME=STREAM, NOTIFY_WEBHOOK_URL=f"{simulator.url}/_sinks/webhook/t")
    set_function_environment(monkeypatch, environment, ledger_names)
    # The DCR the deployment creates, so the audit rows really reach the Logs Ingestion simulator and are searched.
    simulator.state.declare_data_collection_rule(RULE, deployment_streams())
    return ledger


def _functions() -> dict[str, Any]:
    import importlib

    import function_app

    app = importlib.reload(function_app).app
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


class _Context:
    invocation_id = "inv-secrets"


def _sentinel_trigger(user_id: str) -> dict[str, Any]:
    trigger = copy.deepcopy(json.loads(TRIGGER.read_text()))
    properties = trigger["object"]["properties"]
    properties["title"], properties["description"] = f"Token {TOKEN}", PASTED
    for entity in properties["relatedEntities"]:
        if entity.get("kind") == "Account":
            entity["properties"].update({"aadUserId": user_id, "friendlyName": TOKEN, "displayName": PASTED})
    return trigger


def _anomaly(user_id: str) -> func.EventGridEvent:
    data = {"TimeGenerated": "2026-03-02T11:58:00Z", "AppId": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
            "Audience": "api://contoso-payroll",
            "Issuer": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
            "TokenTenantId": "9188040d-6c67-4c5b-b112-36a304b66dad", "KeyId": "1LTMzakihiRla_8z2BEJVXeWMqo",
            "ObjectId": user_id, "FailureReason": PASTED, "UserAgent": f"curl/8 {TOKEN}", "Subject": TOKEN}
    return func.EventGridEvent(id="anomaly-secrets", data=data, topic="/subscriptions/x/topics/t", subject="s",
                               event_type="Tokenwarden.TokenAnomaly", event_time=datetime(2026, 3, 2, tzinfo=UTC),
                               data_version="1")


def _ledger_text(ledger: Ledger) -> str:
    rows = [dict(entity) for table in (ledger.cases, ledger.findings, ledger.checkpoints, ledger.actions)
            for entity in table.list_entities()]
    return json.dumps(rows, default=str)


def test_pasted_tokens_reach_no_log_audit_row_ledger_or_answer(env: Ledger, simulator: SimulatorServer) -> None:
    functions = _functions()
    victims = [u for u in simulator.state.users() if u.account_enabled]
    answers: list[Answer] = []
    pasting = {"User-Agent": f"python-requests {TOKEN}", "Authorization": f"Bearer {TOKEN}"}
    with capture_logs() as lines:
        logging.getLogger("tokenwarden").setLevel(logging.DEBUG)
        requested = call("POST", "respond", headers={**pasting, **principal_headers("ana@contoso.example")},
                         body={"users": [victims[0].id], "reason": PASTED, "dry_run": False})
        answers.append(requested)
        case_id = requested.json["cases"][0]["case_id"]
        deliver(requested.queued)  # the respond worker plans the case: it now awaits approval
        answers.append(call("POST", "cases/{id}/approve", route_params={"id": case_id},
                            headers={**pasting, "X-MS-CLIENT-PRINCIPAL-NAME": TOKEN},  # refused: no principal
                            body={"approver": f"mallory {TOKEN}", "comment": PASTED}))
        platform = {**principal_headers("bob@contoso.example", object_id="0b0b0b0b-0000-4000-8000-000000000b0b"),
                    "X-MS-TOKEN-AAD-ACCESS-TOKEN": TOKEN,
                    "X-MS-TOKEN-AAD-ID-TOKEN": TOKEN, **pasting}
        answers.append(call("POST", "cases/{id}/approve", route_params={"id": case_id}, headers=platform,
                            body={"comment": PASTED}))
        answers.append(call("POST", "tokens/analyze", headers=pasting, body={"token": TOKEN, "audience": "x"}))
        answers.append(call("POST", "sentinel/incident", headers=pasting,
                            body=_sentinel_trigger(victims[1].id)))
        answers.append(call("GET", "cases/{id}", route_params={"id": case_id}, content_type=None))
        answers.append(call("GET", "cases/{id}", route_params={"id": TOKEN}, content_type=None))
        out = QueueOutput()
        functions["events"](_anomaly(victims[2].id), out, _Context())
        for message in out.get():
            functions["respond"](message=QueueMessage(id="m-1", body=message.encode()), context=_Context())
        poison = json.dumps({"version": 1, "case_id": f"x {TOKEN}", "reason": PASTED}).encode()
        functions["respond_poison"](message=QueueMessage(id="m-2", body=poison, dequeue_count=5),
                                    context=_Context())

    assert requested.status == 202 and answers[2].status == 200, [a.text for a in answers]
    assert any(simulator.state.ingested.values()), "no audit row reached the Logs Ingestion simulator to search"
    audit_rows = json.dumps(simulator.state.ingested, default=str)
    sinks = {"logs": "\n".join(lines), "audit rows": audit_rows, "ledger": _ledger_text(env),
             "answers": "\n".join(a.text for a in answers)}
    assert json.loads(audit_rows), "the audit stream received no rows: the harness would prove nothing"
    assert len(lines) > 20 and PASTED.split(maxsplit=1)[0] in sinks["ledger"]
    for name, text in sinks.items():
        assert SIGNATURE not in text, f"a JWT signature reached the {name}"
        assert OPAQUE not in text, f"a bearer token reached the {name}"
    # What may be kept of a JWT is kept: header and claims, with the signature visibly removed.
    assert f"{HEADER}.{CLAIMS}.{SIGNATURE_REMOVED}" in sinks["ledger"]
    assert answers[3].json["claims"]["uti"] == "pasted-uti"
