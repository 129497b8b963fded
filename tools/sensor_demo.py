"""``make demo``, last part: the whole loop through an app that uses the sensor (issue 16's "Show the whole loop").

A small FastAPI app (``Contoso Payroll API``) validates bearer tokens with PyJWT against its own key cache and
uses :class:`tokenwarden_sensor.asgi.TokenwardenMiddleware`; uvicorn serves it on loopback. The sensor sends
``TokenValidation_CL`` rows to the Logs Ingestion simulator and follows ``untrusted-keys.json`` on Azurite.

1. A token forged with a test "compromised" key is accepted: the app's key cache still holds that key, which
   its issuer no longer publishes (the Storm-0558 condition).
2. The sensor's row arrives through the Logs Ingestion simulator, and is loaded into the local workspace that
   the Log Analytics endpoint serves.
3. The ``scan`` timer finds it (``unpublished-signing-key``); the case is queued, planned, approved and contained.
4. Containment's key-cache refresh publishes the key in ``untrusted-keys.json``.
5. The sensor's next conditional GET sees it; the app refuses the same token on its next request.

Each step is printed with its time. :func:`sensor_loop` is called by ``tools.function_demo`` with the run it
set up (functions, ledger, simulators, environment) and returns its checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request  # at module level: FastAPI resolves handler annotations in this namespace
from fastapi.responses import JSONResponse

__all__ = ["sensor_loop"]

DCR_IMMUTABLE_ID = "dcr-5e4504c0ffee4bd5a1d2c3b4a5968778"
STREAM = "Custom-TokenValidation_CL"
APP_NAME = "Contoso Payroll API"


class _Steps:
    """Prints each step with the wall-clock time and the seconds since the loop began."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def __call__(self, number: int | str, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        print(f"[{stamp} +{time.monotonic() - self.started:6.2f}s] {number}. {text}")


def _forged_key() -> tuple[Any, Any, str]:
    """A fresh RSA key standing in for a stolen signing key, and its Entra-style kid (base64url SHA-1)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode().rstrip("=")  # noqa: S324 - a key id
    return private, public, kid


def _victim(logs: Path, taken: set[str]) -> dict[str, Any]:
    """A user no earlier case is about (and not privileged), so the loop opens and contains its own case."""
    tenant = json.loads((logs / "tenant.json").read_text())
    return next(u for u in tenant["users"] if not u.get("privileged")
                and u["userPrincipalName"].lower() not in taken and u["id"].lower() not in taken)


def _app(sensor: Any, keys: dict[str, Any], *, app_id: str, issuer: str) -> FastAPI:
    import jwt

    from tokenwarden_sensor.asgi import TokenwardenMiddleware

    app = FastAPI(title=APP_NAME)

    @app.get("/payslips")
    def payslips(request: Request) -> Any:
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            claims = jwt.decode(token, keys[kid], algorithms=["RS256"], audience=app_id, issuer=issuer)
        except (jwt.PyJWTError, KeyError) as exc:
            return JSONResponse({"error": "invalid_token", "detail": type(exc).__name__}, status_code=401)
        return {"payslips": [], "for": claims.get("preferred_username")}

    app.add_middleware(TokenwardenMiddleware, sensor=sensor)
    return app


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def sensor_loop(demo: Any, logs: Path) -> list[tuple[str, bool]]:
    """Run the loop on *demo* (``tools.function_demo._Run``); returns the checks it passed or failed."""
    import httpx
    import jwt
    from azure.functions.timer import TimerRequest

    from shared.core.credentials import LocalCredential
    from shared.detect.logsources.local import LocalWorkspace
    from shared.devkit.simulator.ingestion import deployment_streams, ingestion_key
    from shared.ledger.case_store import CaseStore
    from tokenwarden_sensor import IngestionTarget, Sensor, SensorConfig, UntrustedKeySource
    from tools.function_demo import APPROVER, _Collect, _http, _respond
    from tools.uvicorn_thread import serving_asgi

    print("\n== the whole loop through an app that uses the sensor (FastAPI on uvicorn) ==")
    step = _Steps()
    checks: list[tuple[str, bool]] = []
    tenant = json.loads((logs / "tenant.json").read_text())["tenantId"]
    app_id = next(a["appId"] for a in json.loads((logs / "apps.json").read_text()) if a["displayName"] == APP_NAME)
    issuer = f"https://login.microsoftonline.com/{tenant}/v2.0"
    cases = CaseStore(demo.ledger.cases).cases()
    user = _victim(logs, {p.lower() for c in cases for p in (*c.user_upns, c.principal.value)})
    private, public, kid = _forged_key()
    published = {k["kid"]: k for path in sorted((logs / "jwks").glob("*.json"))
                 for k in json.loads(path.read_text()).get("keys", [])}
    keys: dict[str, Any] = {kid: public}  # stale: the issuer stopped publishing this key long ago

    def reload_keys(untrusted: list[str]) -> None:
        """The app's own key-refresh callback: when its cache holds an untrusted key, reload the issuer's JWKS
        (which lacks the forged key)."""
        if not any(k in keys for k in untrusted):
            return
        keys.clear()
        for key_id, jwk in published.items():
            try:
                keys[key_id] = jwt.PyJWK(jwk).key
            except jwt.PyJWTError:
                continue  # a key type this app does not use
        step("·", f"the app's key-refresh callback reloaded its keys from the issuer's JWKS; {kid} is no longer "
                  "in its cache")

    # The DCR the deployment creates (data-collection.bicep), which the Logs Ingestion simulator requires.
    demo.simulator.state.declare_data_collection_rule(DCR_IMMUTABLE_ID, deployment_streams())
    sensor = Sensor(SensorConfig(
        app_id=app_id, app_name=APP_NAME, organizations_only=True,
        ingestion=IngestionTarget(endpoint=demo.simulator.url, rule_id=DCR_IMMUTABLE_ID, stream=STREAM),
        untrusted_keys=UntrustedKeySource(connection_string=os.environ["AzureWebJobsStorage"]  # noqa: SIM112 - the host's own name
            , interval=1.0),
        flush_interval=0.5), credential=LocalCredential(), on_key_refresh=reload_keys)
    sensor.start()
    now = int(time.time())
    token_id = f"sensor-demo-{now}"
    forged = jwt.encode({"aud": app_id, "iss": issuer, "tid": tenant, "oid": user["id"],
                         "preferred_username": user["userPrincipalName"], "sub": user["id"], "ver": "2.0",
                         "azp": "edf4dd9e-d8ea-4470-8ab6-cbf692ae3ff5", "uti": token_id,
                         "iat": now - 60, "nbf": now - 60, "exp": now + 3600},
                        private, algorithm="RS256", headers={"kid": kid, "x5t": kid})
    headers = {"Authorization": f"Bearer {forged}", "User-Agent": "Client=REST;Client=RESTSystem;;"}
    try:
        with serving_asgi(_app(sensor, keys, app_id=app_id, issuer=issuer)) as url:
            step(0, f"{APP_NAME} serves {url}/payslips with the sensor; forged key kid {kid} "
                    f"(not published by {issuer})")
            first = httpx.get(f"{url}/payslips", headers=headers)
            step(1, f"a token forged for {user['userPrincipalName']} is ACCEPTED: HTTP {first.status_code} "
                    "(the app's key cache is stale)")
            checks.append(("sensor loop 1: the forged token is accepted while the key cache is stale",
                           first.status_code == 200))

            sensor.flush()
            with demo.simulator.state.lock:
                rows = list(demo.simulator.state.ingested.get(ingestion_key(DCR_IMMUTABLE_ID, STREAM), []))
            (logs / "TokenValidation_CL.0002.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
            demo.endpoint.source.replace(LocalWorkspace.from_exports(logs))
            counters = sensor.counters()
            step(2, f"the sensor's row arrived through the Logs Ingestion simulator ({len(rows)} row(s), "
                    f"{DCR_IMMUTABLE_ID}/{STREAM}; sent={counters.sent}) and is in the local workspace")
            checks.append(("sensor loop 2: the sensor's row arrives through Logs Ingestion",
                           any(r.get("KeyId") == kid and r.get("Outcome") == "Accepted" for r in rows)))

            queued = _Collect()
            demo.functions["scan"](timer=TimerRequest(past_due=False), work=queued)
            _respond(demo, queued.get(), "sensor")
            store = CaseStore(demo.ledger.cases)
            case = next((c for c in store.cases() if token_id in c.token_ids), None)
            step(3, f"the scan found it: case {case.case_id if case else '—'} "
                    f"({', '.join(case.rule_ids) if case else 'no case'}), {case.state if case else ''}")
            if case is not None and case.state == "awaiting_approval":
                status, body = _http(demo.functions["approve_case"], "POST", f"/api/cases/{case.case_id}/approve",
                                     {"approver": APPROVER, "comment": "sensor loop"}, "demo-approve-sensor",
                                     route_params={"id": case.case_id})
                case = store.get(case.case_id)
                step(3, f"{APPROVER} approved it: {status} -> {case.state if case else body}")
            checks.append(("sensor loop 3: the scan finds the sensor's row and the case is contained",
                           case is not None and case.state == "contained"))

            published_now = _wait_for(lambda: sensor.untrusted.matches(kid) is not None, 15.0)
            step(4, f"Tokenwarden published {kid} in untrusted-keys.json; the sensor's conditional GET saw it "
                    f"({'yes' if published_now else 'NO'})")
            checks.append(("sensor loop 4: the key is published as untrusted and the sensor follows it",
                           published_now))

            again = httpx.get(f"{url}/payslips", headers=headers)
            step(5, f"the same token on its next request is REFUSED: HTTP {again.status_code} "
                    f"({again.headers.get('www-authenticate', '')[:90]})")
            checks.append(("sensor loop 5: the app refuses the same token", again.status_code == 401))
        sensor.flush()
        final = sensor.counters()
        print(f"sensor counters: recorded={final.recorded} sent={final.sent} dropped={final.dropped} "
              f"failed={final.failed} refused={final.refused} untrusted_keys={final.untrusted_keys}")
    finally:
        sensor.close()
    return checks


