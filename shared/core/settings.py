"""Every app setting Tokenwarden reads, in one registry.

The registry exists so that deployment can be checked against the code: the
Bicep tests assert that each name here is defined in the Function App's app
settings, and a test fails if any module reads the environment directly instead
of going through :func:`load_settings`. Nothing here reads the environment at
import time, so importing this module is free on the cold-start path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from shared.core.clouds import Cloud, cloud_named
from shared.core.errors import ConfigurationError
from shared.core.loopback import is_loopback, uses_tls
from shared.core.timeparse import parse_duration

__all__ = ["DEPLOYMENT_SETTINGS", "HOST_STORAGE_SETTINGS", "HOST_TELEMETRY_SETTINGS", "LOCAL_ONLY_SETTINGS",
           "PLATFORM_SETTINGS", "SETTINGS", "SettingSpec", "Settings", "load_settings", "settings_table"]


@dataclass(frozen=True, kw_only=True)
class SettingSpec:
    """One app setting: its name, the default deployments get, and why it exists."""

    name: str
    default: str
    purpose: str


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="SCAN_SCHEDULE",
        default="0 */5 * * * *",
        purpose="NCRONTAB schedule of the scan timer.",
    ),
    SettingSpec(
        name="KEY_DRIFT_SCHEDULE",
        default="0 */30 * * * *",
        purpose="NCRONTAB schedule of the key_drift timer, which diffs the issuers' JWKS against the last snapshot.",
    ),
    SettingSpec(
        name="RESPONSE_MODE",
        default="approval",
        purpose="dry-run, approval or auto: how far the responder may act unattended.",
    ),
    SettingSpec(
        name="LOG_ANALYTICS_WORKSPACE_ID",
        default="",
        purpose="Workspace (customer) id of the Log Analytics workspace the rules run against.",
    ),
    SettingSpec(
        name="LOG_ANALYTICS_ENDPOINT",
        default="",
        purpose="Log Analytics query API origin; empty: AZURE_CLOUD's. Another cloud's is refused; loopback http "
                "for a local `workspace serve`.",
    ),
    SettingSpec(
        name="ADX_CLUSTER_URI",
        default="",
        purpose="Azure Data Explorer cluster (or Fabric Eventhouse query URI); when set, scans read ADX_DATABASE there "
                "instead of the Log Analytics workspace (docs/adx.md). Loopback http for a local stand-in.",
    ),
    SettingSpec(
        name="ADX_DATABASE",
        default="",
        purpose="Database in ADX_CLUSTER_URI holding the exported tables; the app's identity needs Database Viewer "
                "on it.",
    ),
    SettingSpec(
        name="ENTRA_TENANT_ID",
        default="",
        purpose="The customer's Entra tenant id; its own v1 and v2 issuers are watched for key drift.",
    ),
    SettingSpec(
        name="EXTRA_COMPROMISED_KEYS",
        default="",
        purpose="Comma-separated key ids or thumbprints an operator adds to the compromised list.",
    ),
    SettingSpec(
        name="GRAPH_ACTIVITY_ALLOWLIST_APPS",
        default="",
        purpose="Comma-separated app ids whose Graph calls may lack a sign-in record.",
    ),
    SettingSpec(
        name="KEY_SOURCES",
        default="",
        purpose="Comma-separated OpenID discovery URLs or JWKS files to watch; empty means Entra's defaults.",
    ),
    SettingSpec(
        name="APP_CATALOG_FILE",
        default="",
        purpose="Optional JSON list of servicePrincipal objects, for audiences Graph cannot be asked for.",
    ),
    SettingSpec(
        name="LOCAL_LOGS_DIR",
        default="",
        purpose="Folder of exported logs; when set, scans run on the embedded local workspace instead.",
    ),
    SettingSpec(
        name="SCAN_LOOKBACK",
        default="1h",
        purpose="Window the timer scans when it has no checkpoint yet.",
    ),
    SettingSpec(
        name="SCAN_OVERLAP",
        default="10m",
        purpose="How far before its watermark each rule re-reads (by arrival time), for rows at a window's edge.",
    ),
    SettingSpec(
        name="INGESTION_DELAY",
        default="5m",
        purpose="How far behind now a scan stops, so rows still being ingested are read by the next one.",
    ),
    SettingSpec(
        name="SCAN_MAX_CHUNK",
        default="1h",
        purpose="Longest window one rule query covers; a catch-up after an outage runs in chunks this long.",
    ),
    SettingSpec(
        name="SCAN_MAX_CHUNKS",
        default="24",
        purpose="Most chunks one rule scans per invocation; a longer backlog continues on the next timer.",
    ),
    SettingSpec(
        name="PROTECTED_PRINCIPALS",
        default="",
        purpose="Comma-separated user object ids, UPNs or group:<object id> entries no action may ever touch "
                "(break-glass accounts); a user whose names cannot be resolved is treated as protected.",
    ),
    SettingSpec(
        name="BLAST_RADIUS_PER_RUN",
        default="25",
        purpose="Most principals one response run may act on; the rest wait for approval.",
    ),
    SettingSpec(
        name="BLAST_RADIUS_PER_HOUR",
        default="100",
        purpose="Most principals acted on in any hour across runs; past it, cases wait for approval.",
    ),
    SettingSpec(
        name="TRIAGE_POLICY_FILE",
        default="",
        purpose="Path of a triage policy (YAML or JSON); empty uses the shipped shared/data/policy.yaml.",
    ),
    SettingSpec(
        name="GRAPH_ENDPOINT",
        default="",
        purpose="Microsoft Graph origin; empty: AZURE_CLOUD's. Another cloud's is refused; loopback http for the "
                "simulator.",
    ),
    SettingSpec(
        name="ARM_ENDPOINT",
        default="",
        purpose="Azure Resource Manager origin for Sentinel incidents and site restarts; empty: AZURE_CLOUD's; "
                "loopback http for the simulator.",
    ),
    SettingSpec(
        name="NOTIFY_WEBHOOK_URL",
        default="",
        purpose="Webhook (a Teams workflow, say) the notify step posts case summaries to; empty turns notify off.",
    ),
    SettingSpec(
        name="CACHE_REFRESH_APPS",
        default="",
        purpose="JSON list of {app_id, mechanism, target}: how each app is made to drop cached signing keys.",
    ),
    SettingSpec(
        name="APPROVER_ROLE",
        default="Tokenwarden.Approver",
        purpose="App role (its value) a signed-in caller must hold on the API's app registration to approve.",
    ),
)

DEPLOYMENT_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="AZURE_CLOUD",
        default="AzurePublicCloud",
        purpose="AzurePublicCloud, AzureUSGovernment or AzureChinaCloud (Bicep's environment().name): the authority, "
                "endpoints and token scopes (shared/core/clouds.py).",
    ),
    SettingSpec(
        name="SENTINEL_WORKSPACE_RESOURCE_ID",
        default="",
        purpose="ARM id of the Sentinel workspace incidents are written to; empty turns the incident step off.",
    ),
    SettingSpec(
        name="EVENT_GRID_TOPIC_ENDPOINT",
        default="",
        purpose="Event Grid topic that Tokenwarden.SigningKeys.Untrusted events are published to.",
    ),
    SettingSpec(
        name="LOGS_INGESTION_ENDPOINT",
        default="",
        purpose="Data collection endpoint for the optional TokenwardenAudit_CL audit stream.",
    ),
    SettingSpec(
        name="AUDIT_DCR_IMMUTABLE_ID",
        default="",
        purpose="Immutable id of the data collection rule that routes the audit stream.",
    ),
    SettingSpec(
        name="AUDIT_STREAM_NAME",
        default="",
        purpose="Stream name (Custom-TokenwardenAudit_CL) in that data collection rule.",
    ),
)
"""Settings whose values the deployment computes from what it created (``deploymentSettings`` in main.bicep)."""

HOST_STORAGE_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="AzureWebJobsStorage__tableServiceUri",
        default="",
        purpose="Table endpoint of the Function App's storage account (the ledger), for identity-based access.",
    ),
    SettingSpec(
        name="AzureWebJobsStorage__credential",
        default="",
        purpose="'managedidentity' in Azure: the ledger authenticates with the app's identity, never a key.",
    ),
    SettingSpec(
        name="AzureWebJobsStorage__clientId",
        default="",
        purpose="Client id of the user-assigned identity the ledger authenticates as.",
    ),
    SettingSpec(
        name="AzureWebJobsStorage__blobServiceUri",
        default="",
        purpose="Blob endpoint of the same account: the published untrusted-key list lives there.",
    ),
    SettingSpec(
        name="AzureWebJobsStorage__queueServiceUri",
        default="",
        purpose="Queue endpoint of the same account: the respond queue.",
    ),
    SettingSpec(
        name="AzureWebJobsStorage",
        default="",
        purpose="Local only: a connection string (Azurite's); Azure deployments never set it.",
    ),
)
"""The Functions host's own storage connection, which the ledger shares.

Named by the host's convention (``AzureWebJobsStorage__*``), not Tokenwarden's, so they live apart
from :data:`SETTINGS`: the deployment defines them in the host settings of ``infra/app/api.bicep``.
"""


PLATFORM_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="WEBSITE_AUTH_ENABLED",
        default="",
        purpose="Read-only, injected by App Service when its authentication (Easy Auth) is on; approvals need it. "
                "Never set it yourself.",
    ),
)
"""Settings the App Service platform injects; a deployment must never define them (a test holds it so), because
the value is only worth trusting when the platform set it. Source: the App Service app settings reference,
MicrosoftDocs/azure-docs ``articles/app-service/reference-app-settings.md`` (``WEBSITE_AUTH_ENABLED``)."""

LOCAL_ONLY_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="INSECURE_LOCAL_APPROVALS",
        default="false",
        purpose="Local only (`make demo`, tests): 'true' takes the approver named in the request body unverified. "
                "/api/health reports it; a deployment never sets it.",
    ),
)
"""Settings for a developer's machine only; the deployment never defines them (a test holds it so)."""

HOST_TELEMETRY_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="APPLICATIONINSIGHTS_CONNECTION_STRING",
        default="",
        purpose="App Insights the host (and, when enabled, OpenTelemetry) sends logs and the audit trail to.",
    ),
    SettingSpec(
        name="APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        default="",
        purpose="'ClientId=<identity>;Authorization=AAD': telemetry is sent with the app's identity, not a key.",
    ),
)
"""Named by the host's convention and set in ``infra/app/api.bicep``; read only by ``shared/audit/telemetry.py``
(from the mapping an adapter passes), never through :class:`Settings`."""


def settings_table() -> str:
    """The Markdown table of every setting, for docs/operations.md (a test keeps the doc equal to this)."""
    groups = (("Tokenwarden", SETTINGS), ("set by the deployment", DEPLOYMENT_SETTINGS),
              ("host storage", HOST_STORAGE_SETTINGS), ("host telemetry", HOST_TELEMETRY_SETTINGS),
              ("set by the platform", PLATFORM_SETTINGS), ("local only", LOCAL_ONLY_SETTINGS))
    rows = ["| setting | group | default | meaning |", "|---|---|---|---|"]
    for group, specs in groups:
        for spec in specs:
            default = f"`{spec.default}`" if spec.default else "(none)"
            rows.append(f"| `{spec.name}` | {group} | {default} | {spec.purpose.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The typed, validated view of the app settings a run uses."""

    scan_schedule: str
    response_mode: str
    cloud: Cloud
    """AZURE_CLOUD's row of the cloud table: the token scopes always come from it."""
    workspace_id: str
    log_analytics_endpoint: str
    entra_tenant_id: str
    extra_compromised_keys: tuple[str, ...]
    graph_allowlist_apps: tuple[str, ...]
    scan_lookback: timedelta
    key_sources: tuple[str, ...]
    app_catalog_file: str
    local_logs_dir: str
    scan_overlap: timedelta
    ingestion_delay: timedelta
    scan_max_chunk: timedelta
    scan_max_chunks: int
    triage_policy_file: str
    protected_principals: tuple[str, ...]
    blast_radius_per_run: int
    blast_radius_per_hour: int
    table_service_uri: str
    storage_credential: str
    storage_client_id: str
    blob_service_uri: str
    queue_service_uri: str
    graph_endpoint: str
    arm_endpoint: str
    cache_refresh_apps: str
    sentinel_workspace_resource_id: str
    event_grid_topic_endpoint: str
    logs_ingestion_endpoint: str
    audit_dcr_immutable_id: str
    audit_stream_name: str
    approver_role: str = "Tokenwarden.Approver"
    adx_cluster_uri: str = ""
    """``ADX_CLUSTER_URI``: when set, the scan's log source is this cluster's ``adx_database``."""
    adx_database: str = ""
    platform_auth_enabled: bool = False
    """App Service authentication is on: the platform set ``WEBSITE_AUTH_ENABLED``, so it strips and sets the
    ``X-MS-CLIENT-PRINCIPAL*`` headers itself and they can be trusted."""
    insecure_local_approvals: bool = False
    """``INSECURE_LOCAL_APPROVALS``: approvers are taken from request bodies, unverified (local runs only)."""
    notify_webhook_url: str = field(repr=False)
    """A workflow URL carries its signature in the query string: a secret, kept out of reprs."""
    storage_connection_string: str = field(repr=False)
    """Holds an account key when set (Azurite's), so it stays out of reprs and logs."""


_MODES = ("dry-run", "approval", "auto")
_MAX_CHUNKS_LIMIT = 1000


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


_WORKSPACE_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                           r"Microsoft\.OperationalInsights/workspaces/[^/]+", re.IGNORECASE)


def _endpoint(get: Callable[[str], str], name: str, *, required: bool = True, show: bool = True) -> str:
    """An https URL, or plain http on loopback (the local simulators); *show* False keeps a secret out of errors."""
    text = get(name).rstrip("/")
    if not text and not required:
        return ""
    if uses_tls(text) is None:
        shown = repr(text) if show else "a value that is not one"
        raise ConfigurationError(f"{name} must be an https URL (http only on loopback), got {shown}")
    return text


def _cloud_endpoint(get: Callable[[str], str], name: str, own: str, cloud: Cloud) -> str:
    """An endpoint that defaults to the cloud's; another non-loopback host would get a token for the wrong audience."""
    text = _endpoint(get, name, required=False) or own
    host = urlsplit(text).hostname or ""
    if text != own and not is_loopback(host):
        raise ConfigurationError(f"{name} is {text!r}, but AZURE_CLOUD={cloud.name} uses {own!r} (its tokens are "
                                 f"for that audience); set AZURE_CLOUD instead, or leave {name} empty")
    return text


_ROLE_VALUE = re.compile(r"[A-Za-z0-9._:/-]+")
"""An app role's ``value``: no spaces (Entra refuses them in role values)."""


def _flag(get: Callable[[str], str], name: str) -> bool:
    """'true'/'1' or 'false'/'0'/empty; anything else is refused rather than guessed."""
    text = get(name).lower()
    if text in ("true", "1"):
        return True
    if text in ("", "false", "0"):
        return False
    raise ConfigurationError(f"{name} is {text!r}; expected true or false")


def _positive(get: Callable[[str], str], name: str) -> int:
    text = get(name)
    if not text.isdigit() or int(text) < 1:
        raise ConfigurationError(f"{name} is {text!r}; expected a whole number of at least 1")
    return int(text)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate settings from *environ*, falling back to the registry defaults.

    Takes the mapping as an argument rather than reading the process environment so tests
    and the CLI can pass their own without patching process state.
    """
    defaults = {spec.name: spec.default for spec in (*SETTINGS, *DEPLOYMENT_SETTINGS, *HOST_STORAGE_SETTINGS,
                                                     *PLATFORM_SETTINGS, *LOCAL_ONLY_SETTINGS)}

    def get(name: str) -> str:
        return environ.get(name, defaults[name]).strip()

    def duration(name: str, *, positive: bool = False) -> timedelta:
        try:
            value = parse_duration(get(name))
        except ValueError as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
        if positive and value <= timedelta(0):
            raise ConfigurationError(f"{name}: must be longer than 0, got {get(name)!r}")
        return value

    mode = get("RESPONSE_MODE").lower()
    if mode not in _MODES:
        raise ConfigurationError(
            f"RESPONSE_MODE is {mode!r}; expected one of {', '.join(_MODES)}"
        )
    max_chunks_text = get("SCAN_MAX_CHUNKS")
    if not re.fullmatch(r"[0-9]{1,6}", max_chunks_text) or not 1 <= int(max_chunks_text) <= _MAX_CHUNKS_LIMIT:
        raise ConfigurationError(
            f"SCAN_MAX_CHUNKS is {max_chunks_text!r}; expected a whole number from 1 to {_MAX_CHUNKS_LIMIT}"
        )
    overlap, max_chunk = duration("SCAN_OVERLAP"), duration("SCAN_MAX_CHUNK", positive=True)
    if max_chunk <= overlap:
        raise ConfigurationError(
            f"SCAN_MAX_CHUNK ({get('SCAN_MAX_CHUNK')}) must be longer than SCAN_OVERLAP ({get('SCAN_OVERLAP')}), "
            "or a scan could never advance"
        )
    credential = get("AzureWebJobsStorage__credential").lower()
    if credential not in ("", "managedidentity"):
        raise ConfigurationError(
            f"AzureWebJobsStorage__credential is {credential!r}; expected 'managedidentity' or nothing"
        )
    sentinel_workspace = get("SENTINEL_WORKSPACE_RESOURCE_ID")
    if sentinel_workspace and not _WORKSPACE_ID.fullmatch(sentinel_workspace):
        raise ConfigurationError(
            "SENTINEL_WORKSPACE_RESOURCE_ID must look like /subscriptions/<id>/resourceGroups/<name>/providers/"
            f"Microsoft.OperationalInsights/workspaces/<name>, got {sentinel_workspace!r}"
        )
    cloud = cloud_named(get("AZURE_CLOUD"))
    approver_role = get("APPROVER_ROLE")
    if not approver_role or len(approver_role) > 120 or not _ROLE_VALUE.fullmatch(approver_role):
        raise ConfigurationError(f"APPROVER_ROLE is {approver_role!r}; expected an app role value "
                                 "(letters, digits and . _ - : /, at most 120 characters)")
    adx_cluster_uri = _endpoint(get, "ADX_CLUSTER_URI", required=False)
    adx_database = get("ADX_DATABASE")
    if adx_cluster_uri and not adx_database:
        raise ConfigurationError("ADX_CLUSTER_URI is set but ADX_DATABASE is empty; name the database to scan")
    return Settings(
        scan_schedule=get("SCAN_SCHEDULE"),
        response_mode=mode,
        cloud=cloud,
        workspace_id=get("LOG_ANALYTICS_WORKSPACE_ID"),
        log_analytics_endpoint=_cloud_endpoint(get, "LOG_ANALYTICS_ENDPOINT", cloud.log_analytics_endpoint, cloud),
        entra_tenant_id=get("ENTRA_TENANT_ID"),
        extra_compromised_keys=_csv(get("EXTRA_COMPROMISED_KEYS")),
        graph_allowlist_apps=_csv(get("GRAPH_ACTIVITY_ALLOWLIST_APPS")),
        scan_lookback=duration("SCAN_LOOKBACK"),
        key_sources=_csv(get("KEY_SOURCES")),
        app_catalog_file=get("APP_CATALOG_FILE"),
        local_logs_dir=get("LOCAL_LOGS_DIR"),
        scan_overlap=overlap,
        ingestion_delay=duration("INGESTION_DELAY"),
        scan_max_chunk=max_chunk,
        scan_max_chunks=int(max_chunks_text),
        triage_policy_file=get("TRIAGE_POLICY_FILE"),
        protected_principals=_csv(get("PROTECTED_PRINCIPALS")),
        blast_radius_per_run=_positive(get, "BLAST_RADIUS_PER_RUN"),
        blast_radius_per_hour=_positive(get, "BLAST_RADIUS_PER_HOUR"),
        table_service_uri=get("AzureWebJobsStorage__tableServiceUri"),
        storage_credential=credential,
        storage_client_id=get("AzureWebJobsStorage__clientId"),
        storage_connection_string=get("AzureWebJobsStorage"),
        blob_service_uri=get("AzureWebJobsStorage__blobServiceUri"),
        queue_service_uri=get("AzureWebJobsStorage__queueServiceUri"),
        graph_endpoint=_cloud_endpoint(get, "GRAPH_ENDPOINT", cloud.graph_endpoint, cloud),
        arm_endpoint=_cloud_endpoint(get, "ARM_ENDPOINT", cloud.arm_endpoint, cloud),
        cache_refresh_apps=get("CACHE_REFRESH_APPS"),
        sentinel_workspace_resource_id=sentinel_workspace,
        event_grid_topic_endpoint=_endpoint(get, "EVENT_GRID_TOPIC_ENDPOINT", required=False),
        logs_ingestion_endpoint=_endpoint(get, "LOGS_INGESTION_ENDPOINT", required=False),
        audit_dcr_immutable_id=get("AUDIT_DCR_IMMUTABLE_ID"),
        audit_stream_name=get("AUDIT_STREAM_NAME"),
        notify_webhook_url=_endpoint(get, "NOTIFY_WEBHOOK_URL", required=False, show=False),
        approver_role=approver_role,
        adx_cluster_uri=adx_cluster_uri,
        adx_database=adx_database,
        platform_auth_enabled=_flag(get, "WEBSITE_AUTH_ENABLED"),
        insecure_local_approvals=_flag(get, "INSECURE_LOCAL_APPROVALS"),
    )
