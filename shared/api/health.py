"""``GET /health``: is the configuration valid, is the ledger reachable, which integrations are configured.

It never calls Graph, ARM or the workspace (each call costs, and Graph's limits are per tenant); it reads
one page of one ledger table with short timeouts and no retries. It never shows a secret: no connection
string, key, webhook URL or query string, only whether each part is configured and, for endpoints, the
origin (scheme and host). A ConfigurationError is reported as a failed check, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from shared.api.errors import redact
from shared.api.http import ApiCall, Reply
from shared.api.models import HealthCheck, HealthResponse
from shared.core.errors import TokenwardenError

if TYPE_CHECKING:
    from shared.core.settings import Settings

__all__ = ["LEDGER_PROBE_TIMEOUT", "health", "health_report"]

LEDGER_PROBE_TIMEOUT = 5
"""Seconds the ledger probe may take to connect, and to read."""


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unparseable URL"
    return f"{parts.scheme}://{host}{port}" if host else "an unparseable URL"


def _configured(name: str, value: str, *, show_origin: bool = True, what: str = "") -> HealthCheck:
    if not value:
        return HealthCheck(name=name, status="not_configured", detail=what or None)
    return HealthCheck(name=name, status="configured", detail=_origin(value) if show_origin else None)


def _ledger_check(settings: Settings) -> HealthCheck:
    from shared.ledger.connection import open_ledger

    if settings.storage_connection_string:
        how = "connection string"
    elif settings.table_service_uri:
        how = f"managed identity at {_origin(settings.table_service_uri)}"
    else:
        how = "nothing"
    try:
        ledger = open_ledger(settings, create_tables=False)
    except TokenwardenError as exc:
        return HealthCheck(name="ledger", status="failed", detail=redact(str(exc)))
    try:
        pages = ledger.cases.query_entities(
            "PartitionKey eq @pk", parameters={"pk": "health"}, results_per_page=1, select=["PartitionKey"],
            connection_timeout=LEDGER_PROBE_TIMEOUT, read_timeout=LEDGER_PROBE_TIMEOUT, retry_total=0,
        ).by_page()
        next(iter(pages), None)
    except Exception as exc:  # any failure is the finding being reported, not an error of the route
        status = getattr(exc, "status_code", None)
        shown = f"status {status}, " if status else ""
        return HealthCheck(name="ledger", status="failed",
                           detail=f"the Cases table could not be read through the {how} ({shown}{type(exc).__name__})")
    finally:
        ledger.close()
    return HealthCheck(name="ledger", status="ok", detail=f"the Cases table answered through the {how}")


def health_report(environ: Mapping[str, str], *, invocation_id: str) -> HealthResponse:
    """The report for the settings in *environ* (the adapter passes the process environment)."""
    from shared.core.settings import load_settings

    try:
        settings = load_settings(environ)
    except TokenwardenError as exc:
        checks = [HealthCheck(name="settings", status="failed", detail=redact(str(exc)))]
        return HealthResponse(status="unhealthy", checks=checks, invocation_id=invocation_id)
    checks = [
        HealthCheck(name="settings", status="ok", detail=f"RESPONSE_MODE is {settings.response_mode}"),
        _ledger_check(settings),
    ]
    if settings.local_logs_dir:
        checks.append(HealthCheck(name="workspace", status="configured", detail="local exports (LOCAL_LOGS_DIR)"))
    else:
        checks.append(HealthCheck(name="workspace", status="configured" if settings.workspace_id else "not_configured",
                                  detail="Log Analytics" if settings.workspace_id else
                                  "LOG_ANALYTICS_WORKSPACE_ID is not set: scans cannot run"))
    checks.append(_approvals_check(settings))
    checks += [
        _configured("graph", settings.graph_endpoint),
        _configured("arm", settings.arm_endpoint),
        _configured("sentinel_workspace", settings.sentinel_workspace_resource_id, show_origin=False,
                    what="SENTINEL_WORKSPACE_RESOURCE_ID is not set: no Sentinel incidents"),
        _configured("event_grid", settings.event_grid_topic_endpoint),
        _configured("audit_stream", settings.logs_ingestion_endpoint),
        _configured("notify_webhook", settings.notify_webhook_url, show_origin=False,
                    what="NOTIFY_WEBHOOK_URL is not set: no notifications"),
    ]
    required = {"settings", "ledger"}
    status: Literal["ok", "degraded", "unhealthy"]
    if any(c.status == "failed" for c in checks if c.name in required):
        status = "unhealthy"
    elif settings.insecure_local_approvals or any(
            c.status in ("failed", "not_configured") for c in checks if c.name == "workspace"):
        status = "degraded"
    else:
        status = "ok"
    return HealthResponse(status=status, checks=checks, invocation_id=invocation_id,
                          insecure_local_approvals=settings.insecure_local_approvals)


def _approvals_check(settings: Settings) -> HealthCheck:
    """How approvers are known: verified by App Service authentication, not at all, or (local) unverified."""
    if settings.insecure_local_approvals:
        return HealthCheck(name="approvals", status="configured",
                           detail="INSECURE_LOCAL_APPROVALS: approvers are taken from request bodies, unverified")
    if settings.platform_auth_enabled:
        return HealthCheck(name="approvals", status="configured",
                           detail=f"Easy Auth principals holding the app role {settings.approver_role}")
    return HealthCheck(name="approvals", status="not_configured",
                       detail="App Service authentication is off (WEBSITE_AUTH_ENABLED): every approval is refused")


def health(call: ApiCall, environ: Mapping[str, str]) -> Reply:
    """``GET /health``: 200 when ok or degraded, 503 when unhealthy; the body is the report either way."""
    report = health_report(environ, invocation_id=call.invocation_id)
    return Reply(body=report, status=503 if report.status == "unhealthy" else 200)
