"""``make demo``: the Function App's main job, run locally through its real function objects.

Under ``python -m tools.azurite run --`` (Azurite, with ``AzureWebJobsStorage``
set), this generates a tenant with planted attacks, checks the rules against it
(``tokenwarden demo``), then starts the local Graph/ARM simulator and the local
Log Analytics endpoint (``workspace serve`` over HTTPS, its certificate from a
throwaway CA) and drives the functions as the host would: the ``scan`` timer
queries the endpoint through ``LogsQueryClient`` and queues cases (checked
against the planted attacks), the ``respond`` worker triages and plans each in
``approval`` mode, the ``events`` trigger takes an app's
``Tokenwarden.TokenAnomaly`` report and a Key Vault key rotation (restarting a
registered site and publishing to the Event Grid topic, both on the simulator),
a Sentinel automation rule posts an incident to ``/api/sentinel/incident``, and
an operator approves every waiting case through ``/api/cases/{id}/approve``.
It prints the cases, what was done to the simulated tenant, and the Sentinel
incidents and comments, and writes ``report.html`` with a timeline per case.
Everything it started (threads, servers, the certificate folder) is stopped or
removed when it returns; Azurite is stopped by the wrapper.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import importlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.ledger.finding_store import StoredFinding

WORKSPACE = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-tokenwarden-demo/providers/"
             "Microsoft.OperationalInsights/workspaces/log-tokenwarden-demo")
APPROVER = "demo-operator@contoso.example"
WORKSPACE_ID = "5b3e9c1a-7d2f-4e8b-9a61-3c0d2e7f4a19"
"""The workspace (customer) id the local endpoint answers for."""
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
SITE = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-contoso-apps/providers/Microsoft.Web/sites/contoso-orders-api"
"""The App Service whose key cache a Key Vault rotation restarts (CACHE_REFRESH_APPS, mechanism restart)."""
VAULT_TOPIC = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-tokenwarden-demo/providers/Microsoft.KeyVault/"
               "vaults/kv-demo")
APP_TOPIC = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-tokenwarden-demo/providers/Microsoft.EventGrid/topics/"
             "evgt-tokenwarden-demo")


@dataclass(frozen=True)
class _Context:
    invocation_id: str


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set (``None``: unset) the given variables for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


class _CountingSource:
    """The endpoint's workspace, counting the queries it answers (so the demo shows the scan went through it)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.queries = 0

    @property
    def description(self) -> str:
        return str(self._inner.description)

    def run_received(self, text: str, *, timespan: Any, label: str) -> Any:
        with self._lock:
            self.queries += 1
        return self._inner.run_received(text, timespan=timespan, label=label)

    def close(self) -> None:
        self._inner.close()

    def replace(self, inner: Any) -> None:
        """Serve *inner* from now on (the sensor loop reloads the workspace with the rows it ingested)."""
        with self._lock:
            previous, self._inner = self._inner, inner
        previous.close()


@dataclass(frozen=True)
class _Endpoint:
    url: str
    ca_bundle: Path
    source: _CountingSource


@contextlib.contextmanager
def _workspace_endpoint(logs: Path, folder: Path) -> Iterator[_Endpoint]:
    """``workspace serve`` over *logs*, in a thread, on HTTPS with a certificate from a throwaway trustme CA.

    ``ca_bundle`` is the public roots (certifi) plus that CA: give it to requests (``REQUESTS_CA_BUNDLE``),
    which azure-core's transport uses, so ``LogsQueryClient`` verifies the endpoint like any other.
    """
    import certifi
    import trustme

    from shared.detect.logsources.local import LocalWorkspace
    from shared.devkit.workspace_server.server import LogAnalyticsServer, serve

    ca = trustme.CA()
    server_pem, bundle = folder / "server.pem", folder / "ca-bundle.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    bundle.write_bytes(Path(certifi.where()).read_bytes().rstrip(b"\n") + b"\n" + ca.cert_pem.bytes())
    source = _CountingSource(LocalWorkspace.from_exports(logs))
    bound: list[LogAnalyticsServer] = []
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            serve(source, workspace_id=WORKSPACE_ID, certfile=server_pem,
                  ready=lambda server: (bound.append(server), ready.set()))
        except BaseException as exc:  # reported by the caller's thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="workspace-serve", daemon=True)
    thread.start()
    try:
        ready.wait()
        if failure:
            raise failure[0]
        yield _Endpoint(url=bound[0].url, ca_bundle=bundle, source=source)
    finally:
        if bound:
            bound[0].shutdown()
        thread.join(timeout=10)
        source.close()


def _functions() -> dict[str, Callable[..., Any]]:
    import function_app

    app = importlib.reload(function_app).app
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


def _http(function: Callable[..., Any], method: str, url: str, body: object, invocation: str,
          route_params: dict[str, str] | None = None, queued: list[str] | None = None) -> tuple[int, Any]:
    """Call an HTTP function; a route that queues work (202) hands its messages to *queued*."""
    import inspect

    import azure.functions as func

    request = func.HttpRequest(method, url, body=json.dumps(body).encode(), route_params=route_params or {},
                               headers={"Content-Type": "application/json"})
    if "work" in inspect.signature(function).parameters:
        out = _Collect()
        response = function(req=request, work=out, context=_Context(invocation))
        if queued is not None:
            queued.extend(out.get())
    else:
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


@dataclass
class _Run:
    """What one demo run drives and what it saw, for the summary and the report."""

    functions: dict[str, Callable[..., Any]]
    ledger: Any
    simulator: Any
    endpoint: _Endpoint
    out: Path
    checks: list[tuple[str, bool]] = field(default_factory=list)
    deliveries: list[tuple[str, str, list[str]]] = field(default_factory=list)
    """Per event delivered to ``events``: (what, outcome lines, refresh action lines)."""


class _Collect:
    """A queue output binding as the host hands it over: ``set()`` once per invocation."""

    def __init__(self) -> None:
        self.value: list[str] = []

    def set(self, val: list[str]) -> None:
        self.value = list(val)

    def get(self) -> list[str]:
        return self.value


@contextlib.contextmanager
def _captured(logger: str) -> Iterator[list[str]]:
    """The INFO-and-above messages *logger* emits inside the block."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    target, handler = logging.getLogger(logger), Keep(logging.INFO)
    level = target.level
    target.setLevel(logging.INFO)
    target.addHandler(handler)
    try:
        yield lines
    finally:
        target.removeHandler(handler)
        target.setLevel(level)


def run(out: Path, users: int) -> int:
    from shared.core.settings import load_settings
    from shared.devkit.demo import run_demo
    from shared.devkit.simulator import build_simulator, load_tenant_state
    from shared.ledger.connection import open_ledger

    storage = os.environ.get("AzureWebJobsStorage", "")  # noqa: SIM112 - the host's own setting name
    if not storage:
        print("tokenwarden demo: AzureWebJobsStorage is not set; run it as `make demo` "
              "(python -m tools.azurite run -- python -m tools.function_demo)", file=sys.stderr)
        return 2
    hunt_ok = run_demo(out, users=users, stdout=sys.stdout, stderr=sys.stderr, environ=None) == 0
    logs = out / "logs"
    simulator = build_simulator(load_tenant_state(logs))
    thread = threading.Thread(target=simulator.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    jwks = logs / "jwks"
    try:
        with tempfile.TemporaryDirectory(prefix="tokenwarden-demo-tls-") as tls, \
                _workspace_endpoint(logs, Path(tls)) as endpoint:
            print(f"\nLocal Log Analytics endpoint: {endpoint.url} (workspace {WORKSPACE_ID}); "
                  f"local Graph/ARM/Event Grid simulator: {simulator.url}")
            settings_env: dict[str, str | None] = {
                "LOCAL_LOGS_DIR": None,  # the scan goes through the endpoint, as in Azure
                "LOG_ANALYTICS_WORKSPACE_ID": WORKSPACE_ID, "LOG_ANALYTICS_ENDPOINT": endpoint.url,
                "REQUESTS_CA_BUNDLE": str(endpoint.ca_bundle),
                "APP_CATALOG_FILE": str(logs / "apps.json"),
                "KEY_SOURCES": f"{jwks / 'organizations.json'},{jwks / 'consumers.json'}",
                "SCAN_LOOKBACK": "24h", "SCAN_MAX_CHUNK": "25h", "INGESTION_DELAY": "0m",
                "RESPONSE_MODE": "approval", "GRAPH_ENDPOINT": simulator.url, "ARM_ENDPOINT": simulator.url,
                "SENTINEL_WORKSPACE_RESOURCE_ID": WORKSPACE,
                "NOTIFY_WEBHOOK_URL": f"{simulator.url}/_sinks/webhook/teams",
                "BLAST_RADIUS_PER_RUN": "25",
                "CACHE_REFRESH_APPS": json.dumps([{"app_id": "*", "mechanism": "restart", "target": SITE},
                                                  {"app_id": "*", "mechanism": "event_grid"}]),
                "EVENT_GRID_TOPIC_ENDPOINT": f"{simulator.url}/api/events",
                # No Easy Auth on a laptop: the operator's approvals are taken as named, and /api/health says so.
                "INSECURE_LOCAL_APPROVALS": "true",
            }
            with _environment(settings_env):
                functions = _functions()
                ledger = open_ledger(load_settings(os.environ))
                try:
                    demo = _Run(functions=functions, ledger=ledger, simulator=simulator, endpoint=endpoint, out=out)
                    demo.checks.append(("the rules find every planted attack on the embedded workspace", hunt_ok))
                    return _drive(demo, logs)
                finally:
                    ledger.close()
    finally:
        simulator.shutdown()
        simulator.server_close()
        thread.join(timeout=5)


def _drive(demo: _Run, logs: Path) -> int:
    from shared.ledger.case_store import CaseStore

    queued = _scan(demo, logs)
    print("\n== respond queue worker (approval mode) ==")
    _respond(demo, queued, "scan")
    print("\n== events trigger: an app's token anomaly, then a Key Vault key rotation ==")
    _respond(demo, _events(demo), "events")
    store = CaseStore(demo.ledger.cases)
    _incident(demo, store)
    _analyze_tokens(demo, logs)
    print(f"\n== operator approves every waiting case as {APPROVER} ==")
    for case in sorted(store.cases(), key=lambda c: c.case_id):
        if case.state == "awaiting_approval":
            status, body = _http(demo.functions["approve_case"], "POST", f"/api/cases/{case.case_id}/approve",
                                 {"approver": APPROVER, "comment": "demo approval"}, f"demo-approve-{case.case_id}",
                                 route_params={"id": case.case_id})
            print(f"{case.case_id}: {status} {body.get('state', body.get('error'))}")
    from tools.sensor_demo import sensor_loop

    demo.checks += sensor_loop(demo, logs)
    return _summary(demo, sorted(store.cases(), key=lambda c: c.case_id))


def _analyze_tokens(demo: _Run, logs: Path) -> None:
    """Two tokens signed by the demo tenant's keys (RSA, RS256, as Entra signs) through ``/api/tokens/analyze``."""
    from datetime import timedelta

    from shared.devkit.demo_data.generate import DEMO_SEED
    from shared.devkit.demo_data.tenant import CONSUMER_TENANT_ID, generate_tenant

    print("\n== an analyst pastes two tokens into /api/tokens/analyze ==")
    users = len(json.loads((logs / "tenant.json").read_text(encoding="utf-8"))["users"])
    tenant = generate_tenant(users=users, seed=DEMO_SEED)
    now = datetime.now(UTC)
    org_app = next(app for app in tenant.resource_apps if app.sign_in_audience == "AzureADMyOrg")

    def claims(tenant_id: str) -> dict[str, object]:
        return {"iss": f"https://login.microsoftonline.com/{tenant_id}/v2.0", "tid": tenant_id, "ver": "2.0",
                "aud": org_app.app_id, "iat": int(now.timestamp()), "nbf": int(now.timestamp()),
                "exp": int((now + timedelta(hours=1)).timestamp())}

    verdicts = []
    for what, key, tenant_id in (("the tenant's own key", tenant.tenant_keys[0], tenant.tenant_id),
                                 ("a consumer (MSA) key", tenant.consumer_keys[0], CONSUMER_TENANT_ID)):
        status, body = _http(demo.functions["analyze_token"], "POST", "/api/tokens/analyze",
                             {"token": key.sign(claims(tenant_id)), "audience": org_app.app_id}, "demo-analyze")
        verdicts.append((status, body.get("verdict"), body.get("signature_verified")))
        print(f"token signed with {what} for {org_app.display_name}: {status} {body.get('verdict', body)}"
              f" (signature verified: {body.get('signature_verified')})")
    demo.checks.append(("/api/tokens/analyze verifies demo tokens (RS256) and flags a consumer key for an org app",
                        verdicts == [(200, "valid", True), (200, "consumer_key_for_org_app", True)]))


def _scan(demo: _Run, logs: Path) -> list[str]:
    from azure.functions.timer import TimerRequest

    from shared.devkit.demo import check_planted
    from shared.ledger.finding_store import FindingStore

    watermark = _seed_late_watermarks(demo, logs)
    print("\n== scan timer (LogsQueryClient -> local workspace endpoint) ==")
    queued = _Collect()
    demo.functions["scan"](timer=TimerRequest(past_due=False), work=queued)
    stored = FindingStore(demo.ledger.findings).all()
    findings = tuple(f.to_finding() for f in stored)
    _check_late_arrivals(demo, stored, watermark)
    missed, noisy, attacks, lookalikes = check_planted(findings, logs / "planted.json")
    print(f"{demo.endpoint.source.queries} rule queries answered by {demo.endpoint.url}; "
          f"{len(findings)} findings in the ledger; {len(queued.get())} case(s) queued on tokenwarden-respond")
    print(f"Planted attacks the scan found through the endpoint: {attacks - len(missed)}/{attacks}; "
          f"look-alikes left alone: {lookalikes - len(noisy)}/{lookalikes}")
    for line in missed:
        print(f"  MISSED {line}")
    for line in noisy:
        print(f"  FALSE POSITIVE {line}")
    demo.checks.append(("the scan finds every planted attack through the workspace endpoint, and no look-alike",
                        not missed and not noisy and demo.endpoint.source.queries > 0))
    return queued.get()


LATE_RULES = ("token-without-sign-in", "mail-access-by-unexpected-app")
"""Rules whose planted evidence (Graph activity, Exchange audit) reaches the workspace after it happened."""


def _seed_late_watermarks(demo: _Run, logs: Path) -> datetime:
    """As if earlier timer runs had scanned these rules up to 2.5 h before the data's end: their planted Graph and
    Exchange evidence happened before that watermark but arrives after it (``_TimeReceived`` in the export)."""
    from shared.core.timeparse import parse_instant
    from shared.detect.logsources.base import TimeRange
    from shared.ledger.checkpoint_store import CheckpointStore

    end = parse_instant(json.loads((logs / "planted.json").read_text(encoding="utf-8"))["end"])
    watermark = end - timedelta(hours=2, minutes=30)
    checkpoints = CheckpointStore(demo.ledger.checkpoints)
    for rule_id in LATE_RULES:
        checkpoints.advance(rule_id, TimeRange(start=watermark - timedelta(hours=1), end=watermark), now=watermark)
    print(f"\n== earlier timer runs: {', '.join(LATE_RULES)} already scanned up to {watermark:%H:%M} ==")
    return watermark


def _check_late_arrivals(demo: _Run, stored: list[StoredFinding], watermark: datetime) -> None:
    """Every finding of a late rule happened before the watermark and arrived after it: found once each."""
    late = [f for f in stored if f.rule_id in LATE_RULES]
    for finding in late:
        delay = (finding.first_arrived - finding.observation.first_seen) if finding.first_arrived else None
        print(f"late evidence: {finding.rule_id} {finding.token_id or finding.user_upn}: happened "
              f"{finding.observation.first_seen:%H:%M}, arrived {delay} later, found once")
    found_once = len({(f.rule_id, f.token_id or f.user_upn) for f in late}) == len(late) == 3
    after_watermark = all(f.observation.first_seen < watermark and f.first_arrived is not None
                          and f.first_arrived > watermark for f in late)
    demo.checks.append(("evidence that happened before the watermark but arrived after it is found, once each",
                        found_once and after_watermark))


def _respond(demo: _Run, queued: list[str], tag: str) -> None:
    from azure.functions.queue import QueueMessage

    with _captured("tokenwarden.respond") as lines:
        for n, body in enumerate(queued):
            demo.functions["respond"](message=QueueMessage(id=f"demo-{tag}-{n}", body=body.encode(), dequeue_count=1),
                                      context=_Context(f"demo-respond-{tag}-{n}"))
    for line in lines:
        print(f"  {line[:150]}")


def _events(demo: _Run) -> list[str]:
    """Deliver the two events; return the respond-queue messages they produced."""
    import azure.functions as func

    from shared.core.resource_names import EVENT_TYPE_TOKEN_ANOMALY
    from shared.intake.events import ANOMALY_RULE_ID
    from shared.ledger.finding_store import FindingStore
    from shared.respond.actions import ActionStore
    from shared.respond.key_refresh import refresh_case_id

    now = datetime.now(UTC)
    victim = next((f for f in sorted(FindingStore(demo.ledger.findings).all(), key=lambda f: f.rule_id)
                   if f.source_table == "TokenValidation_CL" and f.user_upn and f.user_object_id and f.token_id), None)
    queued: list[str] = []
    deliveries: list[tuple[str, Any]] = []
    if victim is not None:
        anomaly = {
            "TimeGenerated": now.isoformat(), "AppId": victim.app_ids[0] if victim.app_ids else SUBSCRIPTION,
            "AppName": "Contoso Orders API", "Audience": f"api://{victim.app_ids[0] if victim.app_ids else 'orders'}",
            "Issuer": victim.issuer or "https://login.microsoftonline.com/common/v2.0",
            "TokenTenantId": victim.tenant_id or SUBSCRIPTION, "KeyId": victim.key_id or "unknown",
            "TokenId": victim.token_id, "ObjectId": victim.user_object_id, "Upn": victim.user_upn,
            "ClientIp": victim.ip_addresses[0] if victim.ip_addresses else None, "Outcome": "Rejected",
            "FailureReason": "signing key is not in the issuer's published JWKS",
        }
        deliveries.append((f"{EVENT_TYPE_TOKEN_ANOMALY} (Event Grid schema) from Contoso Orders API's validation "
                           f"middleware, for {victim.user_upn}",
                           func.EventGridEvent(id="demo-anomaly-1", data=anomaly, topic=APP_TOPIC,
                                               subject="/apps/contoso-orders-api/token-validation",
                                               event_type=EVENT_TYPE_TOKEN_ANOMALY, event_time=now,
                                               data_version="1.0")))
    version = "6c1f0b8d2e3a4f5b9c7d8e9f0a1b2c3d"
    key = {"Id": f"https://kv-demo.vault.azure.net/keys/app-signing/{version}", "VaultName": "kv-demo",
           "ObjectType": "Key", "ObjectName": "app-signing", "Version": version,
           "NBF": int(now.timestamp()), "EXP": int(now.timestamp()) + 180 * 86400}
    deliveries.append(("Microsoft.KeyVault.KeyNewVersionCreated (CloudEvents schema) for kv-demo/app-signing",
                       func.CloudEvent(id="demo-keyvault-1", source=VAULT_TOPIC,
                                       type="Microsoft.KeyVault.KeyNewVersionCreated", specversion="1.0", data=key,
                                       time=now, subject="app-signing")))
    for n, (what, event) in enumerate(deliveries):
        out = _Collect()
        with _captured("tokenwarden.events") as lines:
            demo.functions["events"](event=event, work=out, context=_Context(f"demo-events-{n}"))
        queued += out.get()
        print(f"{what}:")
        for line in lines:
            print(f"  {line[:200]}")
        actions = [f"{a.step} on {a.target}: {a.phase}" for a in
                   ActionStore(demo.ledger.actions).for_case(refresh_case_id("keys", f"event:{event.id}"))]
        for line in actions:
            print(f"  {line}")
        demo.deliveries.append((what, "; ".join(lines), actions))
    from shared.ledger.case_store import CaseStore

    reported = [c for c in CaseStore(demo.ledger.cases).cases() if ANOMALY_RULE_ID in c.rule_ids]
    demo.checks.append(("the app's token anomaly joins its victim's case", victim is not None and bool(reported)))
    return queued


def _incident(demo: _Run, store: Any) -> None:
    print("\n== Sentinel automation rule -> POST /api/sentinel/incident ==")
    mailed = next((c for c in store.cases() if "mail-access-by-unexpected-app" in c.rule_ids), None)
    user = next((u for u in (mailed.enrichment or {}).get("users", []) if u.get("id")), None) if mailed else None
    if user is None:
        print("no mail-access case with an enriched user: nothing for the automation rule to hand over")
        return
    incident = "5c1f0d2e-7a34-4b8e-9c61-0d2e7a344b8e"
    _put_source_incident(demo.simulator, incident)
    trigger = _incident_trigger(user["id"], user.get("user_principal_name") or "someone@contoso.example", incident)
    for attempt in ("first", "Logic App retry"):
        queued: list[str] = []
        status, body = _http(demo.functions["sentinel_incident"], "POST", "/api/sentinel/incident", trigger,
                             f"demo-incident-{attempt}", queued=queued)
        print(f"{attempt}: {status} {json.dumps(body)[:160]}")
        _respond(demo, queued, f"incident-{attempt.split()[0].lower()}")  # the 202 queued the work


def _summary(demo: _Run, cases: list[Any]) -> int:
    state = demo.simulator.state
    print(f"\n{'CASE':<34} {'STATE':<18} {'SEVERITY':<9} RULES")
    for case in cases:
        print(f"{case.case_id:<34} {case.state:<18} {case.severity:<9} {', '.join(case.rule_ids)}")
    writes = state.writes_of()
    print(f"\nWrites to the simulated tenant: {len(writes)}")
    for action in sorted({w.action for w in writes}):
        print(f"  {action}: {sum(1 for w in writes if w.action == action)}")
    incidents = [k for k in state.arm_resources if "/comments/" not in k]
    comments = [k for k in state.arm_resources if "/comments/" in k]
    print(f"Sentinel incidents: {len(incidents)}, comments: {len(comments)}, "
          f"notifications: {sum(len(v) for v in state.webhooks.values())}")
    restarts = dict(state.site_restarts)
    published = list(state.events)
    rotation = [line for _, _, actions in demo.deliveries for line in actions]
    by_rotation = sum(1 for line in rotation if line.startswith("refresh_app_key_cache on restart:")
                      and line.endswith(": succeeded"))
    print("Site restarts: " + (", ".join(f"{site} x{n}" for site, n in sorted(restarts.items())) or "none")
          + f" ({by_rotation} for the Key Vault rotation, the rest by contained cases' key-cache refresh)")
    print(f"Events published to the Event Grid topic: {len(published)}")
    for event in published:
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        print(f"  {event.get('eventType')}: {str(data.get('reason', ''))[:90]}")
    contained = [c for c in cases if c.state == "contained"]
    demo.checks += [
        ("cases are contained after approval", bool(contained)),
        ("Sentinel incidents and comments were written", bool(incidents) and bool(comments)),
        ("the Key Vault rotation restarted the registered site and published to the topic",
         by_rotation == 1 and any(line == "refresh_app_key_cache on event_grid: succeeded" for line in rotation)),
    ]
    report = _report(demo, cases, restarts, published)
    print(f"Contained cases: {len(contained)}/{len(cases)}; report with a timeline per case: {report}")
    failed = [what for what, ok in demo.checks if not ok]
    print("demo " + ("passed" if not failed else "FAILED: " + "; ".join(failed)))
    return 0 if not failed else 1


def _report(demo: _Run, cases: list[Any], restarts: dict[str, int], published: list[dict[str, Any]]) -> Path:
    from shared.respond.actions import ActionStore

    def esc(value: object) -> str:
        return html.escape(str(value))

    rows = []
    for case in sorted(cases, key=lambda c: c.created_at):
        events = [(t.at, f"case {t.from_state or '—'} → {t.to_state}", t.reason) for t in case.transitions]
        events += [(a.updated_at, f"{a.step} on {a.target}: {a.phase}",
                    json.dumps(dict(a.detail), default=str)[:300]) for a in ActionStore(demo.ledger.actions).for_case(
                        case.case_id)]
        items = "".join(f"<li><time>{esc(at.isoformat())}</time> <b>{esc(what)}</b> "
                        f"<span>{esc(why)}</span></li>" for at, what, why in sorted(events))
        who = case.user_upns[0] if case.user_upns else case.principal.value
        rows.append(f"<section><h2>{esc(case.case_id)} — {esc(who)} ({esc(case.severity)}, {esc(case.state)})</h2>"
                    f"<p>rules: {esc(', '.join(case.rule_ids))}</p><ol>{items}</ol></section>")
    checks = "".join(f"<li>{'✔' if ok else '✘'} {esc(what)}</li>" for what, ok in demo.checks)
    writes = "".join(f"<li>{esc(w.action)} → {esc(w.target)}</li>" for w in demo.simulator.state.writes_of())
    delivered = "".join(f"<li><b>{esc(what)}</b><br>{esc(outcome)}<ul>{''.join(f'<li>{esc(a)}</li>' for a in acts)}"
                        "</ul></li>" for what, outcome, acts in demo.deliveries)
    restarted = "".join(f"<li>{esc(site)}: {n}</li>" for site, n in sorted(restarts.items())) or "<li>none</li>"
    topic = "".join(f"<li>{esc(e.get('eventType'))} {esc(e.get('subject'))} <code>{esc(e.get('id'))}</code> "
                    f"<span>{esc(json.dumps(e.get('data'), default=str)[:300])}</span></li>" for e in published)
    page = ("<!doctype html><meta charset=utf-8><title>Tokenwarden demo</title><style>body{font:14px system-ui;"
            "margin:2em}time{color:#666}li{margin:.2em 0}section{border-top:1px solid #ddd}</style>"
            f"<h1>Tokenwarden demo — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC</h1>"
            f"<p>Scan source: Log Analytics query API at {esc(demo.endpoint.url)} (local workspace {WORKSPACE_ID}), "
            f"{demo.endpoint.source.queries} queries.</p><h2>Checks</h2><ul>{checks}</ul>"
            f"<h2>Events delivered to the events function</h2><ul>{delivered}</ul>"
            f"<h2>Site restarts</h2><ul>{restarted}</ul>"
            f"<h2>Events published to the Event Grid topic</h2><ul>{topic or '<li>none</li>'}</ul>"
            f"<h2>Writes to the simulated tenant</h2><ul>{writes}</ul>{''.join(rows)}")
    path = demo.out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


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
        from shared.core.errors import TokenwardenError

        if isinstance(exc, TokenwardenError):
            print(f"tokenwarden demo: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
