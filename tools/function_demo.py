"""``make demo``: the Function App's main job, run locally through its real function objects.

Under ``python -m tools.azurite run --`` (Azurite, with ``AzureWebJobsStorage``
set), this generates a tenant with planted attacks, checks the rules against it
(``tokenwarden demo``), then starts the local Graph/ARM simulator and drives the
functions as the host would: the ``scan`` timer queues cases, the ``respond``
worker triages and plans each in ``approval`` mode, a Sentinel automation rule
posts an incident to ``/api/sentinel/incident``, and an operator approves every
waiting case through ``/api/cases/{id}/approve``. It prints the cases, what was
done to the simulated tenant, and the Sentinel incidents and comments, and
writes ``report.html`` with a timeline per case. Everything it started is
stopped when it returns; Azurite is stopped by the wrapper.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-tokenwarden-demo/providers/"
             "Microsoft.OperationalInsights/workspaces/log-tokenwarden-demo")
APPROVER = "demo-operator@contoso.example"


@dataclass(frozen=True)
class _Context:
    invocation_id: str


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _functions() -> dict[str, Callable[..., Any]]:
    import function_app

    app = importlib.reload(function_app).app
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


def _http(function: Callable[..., Any], method: str, url: str, body: object, invocation: str,
          route_params: dict[str, str] | None = None) -> tuple[int, Any]:
    import azure.functions as func

    request = func.HttpRequest(method, url, body=json.dumps(body).encode(), route_params=route_params or {},
                               headers={"Content-Type": "application/json"})
    response = function(req=request, context=_Context(invocation))
    return response.status_code, json.loads(response.get_body() or b"null")


def _incident_trigger(user_id: str, upn: str, incident: str) -> dict[str, Any]:
    """A Sentinel incident trigger body as the playbook Logic App forwards it (see tests/fixtures)."""
    name, _, suffix = upn.partition("@")
    return {
        "eventUniqueId": f"demo-{incident}", "objectSchemaType": "Incident", "objectEventType": "Create",
        "workspaceInfo": {"SubscriptionId": "00000000-0000-0000-0000-000000000000",
                          "ResourceGroupName": "rg-tokenwarden-demo", "WorkspaceName": "log-tokenwarden-demo"},
        "object": {
            "id": f"{WORKSPACE}/providers/Microsoft.SecurityInsights/Incidents/{incident}", "name": incident,
            "etag": "\"demo\"", "type": "Microsoft.SecurityInsights/Incidents",
            "properties": {
                "title": "Mail read with a token no sign-in explains", "severity": "High", "status": "New",
                "incidentNumber": 1, "relatedAnalyticRuleIds": [],
                "relatedEntities": [{"id": f"{WORKSPACE}/entities/acct", "kind": "Account", "properties": {
                    "aadUserId": user_id, "accountName": name, "upnSuffix": suffix, "friendlyName": name}}],
            },
        },
    }


def _report(out: Path, ledger: Any, simulator: Any) -> Path:
    from shared.ledger.case_store import CaseStore
    from shared.respond.actions import ActionStore

    rows = []
    for case in sorted(CaseStore(ledger.cases).cases(), key=lambda c: c.created_at):
        events = [(t.at, f"case {t.from_state or '—'} → {t.to_state}", t.reason) for t in case.transitions]
        events += [(a.updated_at, f"{a.step} on {a.target}: {a.phase}",
                    json.dumps(dict(a.detail), default=str)[:300]) for a in ActionStore(ledger.actions).for_case(
                        case.case_id)]
        items = "".join(f"<li><time>{html.escape(at.isoformat())}</time> <b>{html.escape(what)}</b> "
                        f"<span>{html.escape(why)}</span></li>" for at, what, why in sorted(events))
        who = case.user_upns[0] if case.user_upns else case.principal.value
        rows.append(f"<section><h2>{html.escape(case.case_id)} — {html.escape(who)} "
                    f"({html.escape(case.severity)}, {html.escape(case.state)})</h2>"
                    f"<p>rules: {html.escape(', '.join(case.rule_ids))}</p><ol>{items}</ol></section>")
    writes = "".join(f"<li>{html.escape(w.action)} → {html.escape(w.target)}</li>" for w in simulator.state.writes_of())
    page = ("<!doctype html><meta charset=utf-8><title>Tokenwarden demo</title><style>body{font:14px system-ui;"
            "margin:2em}time{color:#666}li{margin:.2em 0}section{border-top:1px solid #ddd}</style>"
            f"<h1>Tokenwarden demo — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</h1>"
            f"<h2>Writes to the simulated tenant</h2><ul>{writes}</ul>{''.join(rows)}")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def run(out: Path, users: int) -> int:
    from azure.functions.queue import QueueMessage
    from azure.functions.timer import TimerRequest

    from shared.demo import run_demo
    from shared.ledger.case_store import CaseStore
    from shared.ledger.connection import open_ledger
    from shared.settings import load_settings
    from shared.simulator import build_simulator, load_tenant_state

    storage = os.environ.get("AzureWebJobsStorage", "")  # noqa: SIM112 - the host's own setting name
    if not storage:
        print("tokenwarden demo: AzureWebJobsStorage is not set; run it as `make demo` "
              "(python -m tools.azurite run -- python -m tools.function_demo)", file=sys.stderr)
        return 2
    hunt_ok = run_demo(out, users=users, stdout=sys.stdout, stderr=sys.stderr, environ=None) == 0
    logs = out / "logs"
    simulator = build_simulator(load_tenant_state(logs))
    import threading

    thread = threading.Thread(target=simulator.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    jwks = logs / "jwks"
    settings_env = {
        "LOCAL_LOGS_DIR": str(logs), "APP_CATALOG_FILE": str(logs / "apps.json"),
        "KEY_SOURCES": f"{jwks / 'organizations.json'},{jwks / 'consumers.json'}",
        "SCAN_LOOKBACK": "24h", "SCAN_MAX_CHUNK": "25h", "INGESTION_DELAY": "0m",
        "RESPONSE_MODE": "approval", "GRAPH_ENDPOINT": simulator.url, "ARM_ENDPOINT": simulator.url,
        "SENTINEL_WORKSPACE_RESOURCE_ID": WORKSPACE, "NOTIFY_WEBHOOK_URL": f"{simulator.url}/_sinks/webhook/teams",
        "BLAST_RADIUS_PER_RUN": "25",
    }
    try:
        with _environment(settings_env):
            functions = _functions()
            ledger = open_ledger(load_settings(os.environ))
            try:
                return _drive(functions, ledger, simulator, out, hunt_ok, QueueMessage, TimerRequest, CaseStore)
            finally:
                ledger.close()
    finally:
        simulator.shutdown()
        simulator.server_close()
        thread.join(timeout=5)


def _drive(functions: dict[str, Callable[..., Any]], ledger: Any, simulator: Any, out: Path, hunt_ok: bool,
           queue_message: Any, timer_request: Any, case_store: Any) -> int:
    import azure.functions as func

    class Collect(func.Out[list[str]]):
        def __init__(self) -> None:
            self.value: list[str] = []

        def set(self, val: list[str]) -> None:
            self.value = val

        def get(self) -> list[str]:
            return self.value

    print("\n== scan timer ==")
    queued = Collect()
    functions["scan"](timer=timer_request(past_due=False), work=queued)
    print(f"{len(queued.get())} case(s) queued on tokenwarden-respond")
    print("\n== respond queue worker (approval mode) ==")
    for n, body in enumerate(queued.get()):
        functions["respond"](message=queue_message(id=f"demo-msg-{n}", body=body.encode(), dequeue_count=1),
                             context=_Context(f"demo-respond-{n}"))
    store = case_store(ledger.cases)
    print("\n== Sentinel automation rule -> POST /api/sentinel/incident ==")
    mailed = next((c for c in store.cases() if "mail-access-by-unexpected-app" in c.rule_ids), None)
    user = next((u for u in (mailed.enrichment or {}).get("users", []) if u.get("id")), None) if mailed else None
    if user is not None:
        incident = "5c1f0d2e-7a34-4b8e-9c61-0d2e7a344b8e"
        _put_source_incident(simulator, incident)
        trigger = _incident_trigger(user["id"], user.get("user_principal_name") or "someone@contoso.example",
                                    incident)
        for attempt in ("first", "Logic App retry"):
            status, body = _http(functions["sentinel_incident"], "POST", "/api/sentinel/incident", trigger,
                                 f"demo-incident-{attempt}")
            print(f"{attempt}: {status} {json.dumps(body)[:160]}")
    print(f"\n== operator approves every waiting case as {APPROVER} ==")
    for case in sorted(store.cases(), key=lambda c: c.case_id):
        if case.state == "awaiting_approval":
            status, body = _http(functions["approve_case"], "POST", f"/api/cases/{case.case_id}/approve",
                                 {"approver": APPROVER, "comment": "demo approval"}, f"demo-approve-{case.case_id}",
                                 route_params={"id": case.case_id})
            print(f"{case.case_id}: {status} {body.get('state', body.get('error'))}")
    cases = sorted(store.cases(), key=lambda c: c.case_id)
    print(f"\n{'CASE':<34} {'STATE':<18} {'SEVERITY':<9} RULES")
    for case in cases:
        print(f"{case.case_id:<34} {case.state:<18} {case.severity:<9} {', '.join(case.rule_ids)}")
    writes = simulator.state.writes_of()
    print(f"\nWrites to the simulated tenant: {len(writes)}")
    for action in sorted({w.action for w in writes}):
        print(f"  {action}: {sum(1 for w in writes if w.action == action)}")
    incidents = [k for k in simulator.state.arm_resources if "/comments/" not in k]
    comments = [k for k in simulator.state.arm_resources if "/comments/" in k]
    print(f"Sentinel incidents: {len(incidents)}, comments: {len(comments)}, "
          f"notifications: {sum(len(v) for v in simulator.state.webhooks.values())}")
    report = _report(out, ledger, simulator)
    print(f"Report with a timeline per case: {report}")
    contained = [c for c in cases if c.state == "contained"]
    ok = hunt_ok and bool(contained) and bool(incidents) and bool(comments)
    print("demo " + ("passed" if ok else "FAILED: expected contained cases, incidents and comments"))
    return 0 if ok else 1


def _put_source_incident(simulator: Any, name: str) -> None:
    """The incident an analytic rule raised, which the automation rule then hands to Tokenwarden."""
    import urllib.request

    url = f"{simulator.url}{WORKSPACE}/providers/Microsoft.SecurityInsights/incidents/{name}?api-version=2025-09-01"
    body = json.dumps({"properties": {"title": "Mail read with a token no sign-in explains", "severity": "High",
                                      "status": "New"}}).encode()
    request = urllib.request.Request(url, data=body, method="PUT",  # noqa: S310 - the loopback simulator
                                     headers={"Authorization": "Bearer demo", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.function_demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"))
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args(argv)
    try:
        return run(args.out, args.users)
    except Exception as exc:  # the demo is a CLI: one line, no traceback
        from shared.errors import TokenwardenError

        if isinstance(exc, TokenwardenError):
            print(f"tokenwarden demo: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
