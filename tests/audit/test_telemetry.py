"""App Insights export of tokenwarden.* logs: off without a connection string, left to the worker or the host when
they own it, and otherwise the real azure-monitor-opentelemetry distro exporting to a loopback ingestion endpoint,
where the audit record's case, action and invocation ids arrive as custom dimensions.

The distro installs process-wide OpenTelemetry providers, so the configured case runs in a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.audit import telemetry
from shared.audit.telemetry import configure_telemetry, telemetry_credential

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=http://127.0.0.1:9/"


@pytest.fixture(autouse=True)
def _fresh_decision() -> None:
    telemetry._reset_for_tests()


def test_without_a_connection_string_nothing_is_configured_or_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import json, sys\nfrom shared.audit.telemetry import configure_telemetry\n"
                               "print(configure_telemetry({}))\n"
                               "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('azure', "
                               "'opentelemetry')))))"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    state, modules = done.stdout.splitlines()[-2:]
    assert state == "off" and json.loads(modules) == []


def test_the_worker_distro_is_not_configured_twice() -> None:
    assert configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
                                "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true"}) == "worker"


def test_inside_the_host_without_worker_opentelemetry_the_host_keeps_the_logs() -> None:
    assert configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
                                "FUNCTIONS_WORKER_RUNTIME": "python"}) == "host"


def test_the_first_decision_holds_for_the_process() -> None:
    assert configure_telemetry({}) == "off"
    assert configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": CONNECTION,
                                "FUNCTIONS_WORKER_RUNTIME": "python"}) == "off"
    assert telemetry.telemetry_state() == "off"


def test_entra_authentication_uses_the_named_managed_identity() -> None:
    from azure.identity import ManagedIdentityCredential

    assert telemetry_credential({}) is None
    assert telemetry_credential({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=Key"}) is None
    named = "ClientId=11111111-2222-3333-4444-555555555555;Authorization=AAD"
    credential = telemetry_credential({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": named})
    assert isinstance(credential, ManagedIdentityCredential)
    assert isinstance(telemetry_credential({"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD"}),
                      ManagedIdentityCredential)


_CHILD = r'''
import gzip, json, logging, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

attempts = []
_connect = socket.socket.connect
def guarded(self, address):
    attempts.append(str(address[0]))
    if address[0] not in ("127.0.0.1", "::1", "localhost"):
        raise OSError("test: no network beyond loopback")
    return _connect(self, address)
socket.socket.connect = guarded

received = []
class Track(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        received.append({"path": self.path, "body": json.loads(body)})
        payload = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload))); self.end_headers(); self.wfile.write(payload)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Track)
threading.Thread(target=server.serve_forever, daemon=True).start()
connection = ("InstrumentationKey=00000000-0000-0000-0000-000000000001;"
              f"IngestionEndpoint=http://127.0.0.1:{server.server_port}/")

from shared.audit.telemetry import configure_telemetry
state = configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": connection},
                            enable_live_metrics=False, enable_performance_counters=False,
                            disable_offline_storage=True)
again = configure_telemetry({"APPLICATIONINSIGHTS_CONNECTION_STRING": connection})
logging.getLogger("tokenwarden.audit").info(
    "action %s", json.dumps({"phase": "intent"}),
    extra={"case_id": "case-7", "action_id": "act-7", "invocation_id": "inv-7"})
logging.getLogger("elsewhere").warning("not exported")

from opentelemetry._logs import get_logger_provider
provider = get_logger_provider()
provider.force_flush()
items = [item for call in received for item in call["body"] if item["data"]["baseType"] == "MessageData"]
print(json.dumps({"state": state, "again": again, "provider": type(provider).__module__,
                  "messages": [item["data"]["baseData"] for item in items],
                  "remote": sorted({a for a in attempts if a not in ("127.0.0.1", "::1", "localhost")})}))
'''


def test_with_a_connection_string_audit_logs_reach_app_insights_with_their_ids() -> None:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("APPLICATIONINSIGHTS_", "PYTHON_", "FUNCTIONS_", "OTEL_"))}
    # As deployed (docs/operations.md): the Functions resource detector only, so the VM detector never probes
    # the instance metadata address; statsbeat and the control plane off, so nothing leaves loopback.
    env.update({"OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_functions",
                "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
                "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true"})
    done = subprocess.run([sys.executable, "-c", _CHILD], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["state"] == "configured" and result["again"] == "configured"
    assert result["provider"].startswith("opentelemetry.sdk._logs")
    assert result["remote"] == []  # nothing left loopback
    messages = result["messages"]
    assert len(messages) == 1, messages  # only tokenwarden.* is exported
    sent = messages[0]
    assert sent["message"].startswith("action ")
    assert {"case_id": "case-7", "action_id": "act-7", "invocation_id": "inv-7"}.items() <= sent["properties"].items()
