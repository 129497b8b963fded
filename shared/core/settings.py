"""Every app setting Tokenwarden reads, each declared once.

The registry exists so that deployment can be checked against the code: the
Bicep tests assert that each name here is defined in the Function App's app
settings, and a test fails if any module reads the environment directly instead
of going through :func:`load_settings`. Nothing here reads the environment at
import time, so importing this module is free on the cold-start path.

**Adding a setting** is one declaration: a field of :class:`Settings` whose default is
``setting("NAME", default=..., group=..., parse=..., purpose=...)``. That one line gives the field its
type, the app setting its name, default and group (which registry tuple, and so which Bicep test, holds it),
the parser that turns the text into the field's value (each parser names the setting in its one-line
error), and the row of the docs table (:func:`settings_table`; paste it into docs/operations.md). Only a
rule that looks at two settings at once is written by hand, in :func:`_check_across`. A setting nothing
reads through :class:`Settings` (the host's telemetry) is a bare :class:`SettingSpec` in its group's tuple.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from shared.core.clouds import Cloud, cloud_named
from shared.core.errors import ConfigurationError
from shared.core.loopback import is_loopback, uses_tls
from shared.core.timeparse import parse_duration

__all__ = ["DEPLOYMENT_SETTINGS", "HOST_STORAGE_SETTINGS", "HOST_TELEMETRY_SETTINGS", "LOCAL_ONLY_SETTINGS",
           "PLATFORM_SETTINGS", "SETTINGS", "ResponseMode", "SettingSpec", "Settings", "load_settings", "setting",
           "settings_table"]

ResponseMode = Literal["dry-run", "approval", "auto"]
"""How far the responder may act unattended, from the most careful up."""

Group = Literal["Tokenwarden", "set by the deployment", "host storage", "host telemetry", "set by the platform",
                "local only"]
"""Who sets a setting; the docs table's second column, and which tuple (and Bicep test) holds it."""
TOKENWARDEN: Group = "Tokenwarden"
DEPLOYMENT: Group = "set by the deployment"
"""Values the deployment computes from what it created (``deploymentSettings`` in main.bicep)."""
HOST_STORAGE: Group = "host storage"
"""The Functions host's own storage connection, which the ledger shares. Named by the host's convention
(``AzureWebJobsStorage__*``), not Tokenwarden's; the deployment defines them in the host settings of
``infra/app/api.bicep``."""
HOST_TELEMETRY: Group = "host telemetry"
"""Named by the host's convention and set in ``infra/app/api.bicep``; read only by ``shared/audit/telemetry.py``
(from the mapping an adapter passes), never through :class:`Settings`."""
PLATFORM: Group = "set by the platform"
"""Injected by the App Service platform; a deployment must never define them (a test holds it so), because the
value is only worth trusting when the platform set it. Source: the App Service app settings reference,
MicrosoftDocs/azure-docs ``articles/app-service/reference-app-settings.md`` (``WEBSITE_AUTH_ENABLED``)."""
LOCAL_ONLY: Group = "local only"
"""For a developer's machine only; the deployment never defines them (a test holds it so)."""
_GROUPS: tuple[Group, ...] = (TOKENWARDEN, DEPLOYMENT, HOST_STORAGE, HOST_TELEMETRY, PLATFORM, LOCAL_ONLY)

Parser = Callable[[str, str], object]
"""Turns a setting's (stripped) text into its value: called with the setting's name, for the error message."""


def _text(name: str, text: str) -> str:
    return text


@dataclass(frozen=True, kw_only=True)
class SettingSpec:
    """One app setting: its name, the default deployments get, who sets it, why it exists, and how it is read."""

    name: str
    default: str
    purpose: str
    group: Group
    parse: Parser = _text
    field: str = ""
    """The :class:`Settings` field it fills (filled in from the declaration); empty: not read through Settings."""


def setting(name: str, *, default: str, group: Group, purpose: str, parse: Parser = _text,
            secret: bool = False) -> Any:
    """Declare a :class:`Settings` field as the app setting *name*; *secret* keeps its value out of reprs."""
    spec = SettingSpec(name=name, default=default, group=group, purpose=purpose, parse=parse)
    return field(repr=not secret, metadata={"setting": spec})


# Parsers: each takes the setting's name and its stripped text, and refuses in one line that names the setting.

def _response_mode(name: str, text: str) -> ResponseMode:
    mode = text.lower()
    if mode not in _MODES:
        raise ConfigurationError(f"{name} is {mode!r}; expected one of {', '.join(_MODES)}")
    return mode


_MODES: tuple[ResponseMode, ...] = ("dry-run", "approval", "auto")
_MAX_CHUNKS_LIMIT = 1000


def _csv(name: str, text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _duration(name: str, text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigurationError(f"{name}: {exc}") from None


def _positive_duration(name: str, text: str) -> timedelta:
    value = _duration(name, text)
    if value <= timedelta(0):
        raise ConfigurationError(f"{name}: must be longer than 0, got {text!r}")
    return value


def _chunk_count(name: str, text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= _MAX_CHUNKS_LIMIT:
        raise ConfigurationError(f"{name} is {text!r}; expected a whole number from 1 to {_MAX_CHUNKS_LIMIT}")
    return int(text)


def _positive(name: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigurationError(f"{name} is {text!r}; expected a whole number of at least 1")
    return int(text)


def _flag(name: str, text: str) -> bool:
    """'true'/'1' or 'false'/'0'/empty; anything else is refused rather than guessed."""
    text = text.lower()
    if text in ("true", "1"):
        return True
    if text in ("", "false", "0"):
        return False
    raise ConfigurationError(f"{name} is {text!r}; expected true or false")


def _checked_endpoint(name: str, text: str, *, show: bool) -> str:
    """Empty, an https URL, or plain http on loopback (the local simulators); *show* False keeps a secret out."""
    text = text.rstrip("/")
    if text and uses_tls(text) is None:
        shown = repr(text) if show else "a value that is not one"
        raise ConfigurationError(f"{name} must be an https URL (http only on loopback), got {shown}")
    return text


def _endpoint(name: str, text: str) -> str:
    return _checked_endpoint(name, text, show=True)


def _secret_endpoint(name: str, text: str) -> str:
    return _checked_endpoint(name, text, show=False)


def _storage_credential(name: str, text: str) -> str:
    credential = text.lower()
    if credential not in ("", "managedidentity"):
        raise ConfigurationError(f"{name} is {credential!r}; expected 'managedidentity' or nothing")
    return credential


_WORKSPACE_ID = re.compile(r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/"
                           r"Microsoft\.OperationalInsights/workspaces/[^/]+", re.IGNORECASE)


def _workspace_resource_id(name: str, text: str) -> str:
    if text and not _WORKSPACE_ID.fullmatch(text):
        raise ConfigurationError(f"{name} must look like /subscriptions/<id>/resourceGroups/<name>/providers/"
                                 f"Microsoft.OperationalInsights/workspaces/<name>, got {text!r}")
    return text


_ROLE_VALUE = re.compile(r"[A-Za-z0-9._:/-]+")
"""An app role's ``value``: no spaces (Entra refuses them in role values)."""


def _app_role(name: str, text: str) -> str:
    if not text or len(text) > 120 or not _ROLE_VALUE.fullmatch(text):
        raise ConfigurationError(f"{name} is {text!r}; expected an app role value "
                                 "(letters, digits and . _ - : /, at most 120 characters)")
    return text


def _cloud(name: str, text: str) -> Cloud:
    return cloud_named(text)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The typed, validated view of the app settings a run uses; each field declares its app setting."""

    scan_schedule: str = setting(
        "SCAN_SCHEDULE", default="0 */5 * * * *", group=TOKENWARDEN,
        purpose="NCRONTAB schedule of the scan timer.",
    )
    key_drift_schedule: str = setting(
        "KEY_DRIFT_SCHEDULE", default="0 */30 * * * *", group=TOKENWARDEN,
        purpose="NCRONTAB schedule of the key_drift timer, which diffs the issuers' JWKS against the last snapshot.",
    )
    response_mode: ResponseMode = setting(
        "RESPONSE_MODE", default="approval", group=TOKENWARDEN, parse=_response_mode,
        purpose="dry-run, approval or auto: how far the responder may act unattended.",
    )
    workspace_id: str = setting(
        "LOG_ANALYTICS_WORKSPACE_ID", default="", group=TOKENWARDEN,
        purpose="Workspace (customer) id of the Log Analytics workspace the rules run against.",
    )
    log_analytics_endpoint: str = setting(
        "LOG_ANALYTICS_ENDPOINT", default="", group=TOKENWARDEN, parse=_endpoint,
        purpose="Log Analytics query API origin; empty: AZURE_CLOUD's. Another cloud's is refused; loopback http "
                "for a local `workspace serve`.",
    )
    adx_cluster_uri: str = setting(
        "ADX_CLUSTER_URI", default="", group=TOKENWARDEN, parse=_endpoint,
        purpose="Azure Data Explorer cluster (or Fabric Eventhouse query URI); when set, scans read ADX_DATABASE there "
                "instead of the Log Analytics workspace (docs/adx.md). Loopback http for a local stand-in.",
    )
    """When set, the scan's log source is this cluster's ``adx_database``."""
    adx_database: str = setting(
        "ADX_DATABASE", default="", group=TOKENWARDEN,
        purpose="Database in ADX_CLUSTER_URI holding the exported tables; the app's identity needs Database Viewer "
                "on it.",
    )
    entra_tenant_id: str = setting(
        "ENTRA_TENANT_ID", default="", group=TOKENWARDEN,
        purpose="The customer's Entra tenant id; its own v1 and v2 issuers are watched for key drift.",
    )
    extra_compromised_keys: tuple[str, ...] = setting(
        "EXTRA_COMPROMISED_KEYS", default="", group=TOKENWARDEN, parse=_csv,
        purpose="Comma-separated key ids or thumbprints an operator adds to the compromised list.",
    )
    graph_allowlist_apps: tuple[str, ...] = setting(
        "GRAPH_ACTIVITY_ALLOWLIST_APPS", default="", group=TOKENWARDEN, parse=_csv,
        purpose="Comma-separated app ids whose Graph calls may lack a sign-in record.",
    )
    key_sources: tuple[str, ...] = setting(
        "KEY_SOURCES", default="", group=TOKENWARDEN, parse=_csv,
        purpose="Comma-separated OpenID discovery URLs or JWKS files to watch; empty means Entra's defaults.",
    )
    app_catalog_file: str = setting(
        "APP_CATALOG_FILE", default="", group=TOKENWARDEN,
        purpose="Optional JSON list of servicePrincipal objects, for audiences Graph cannot be asked for.",
    )
    local_logs_dir: str = setting(
        "LOCAL_LOGS_DIR", default="", group=TOKENWARDEN,
        purpose="Folder of exported logs; when set, scans run on the embedded local workspace instead.",
    )
    scan_lookback: timedelta = setting(
        "SCAN_LOOKBACK", default="1h", group=TOKENWARDEN, parse=_duration,
        purpose="Window the timer scans when it has no checkpoint yet.",
    )
    scan_overlap: timedelta = setting(
        "SCAN_OVERLAP", default="10m", group=TOKENWARDEN, parse=_duration,
        purpose="How far before its watermark each rule re-reads (by arrival time), for rows at a window's edge.",
    )
    ingestion_delay: timedelta = setting(
        "INGESTION_DELAY", default="5m", group=TOKENWARDEN, parse=_duration,
        purpose="How far behind now a scan stops, so rows still being ingested are read by the next one.",
    )
    scan_max_chunk: timedelta = setting(
        "SCAN_MAX_CHUNK", default="1h", group=TOKENWARDEN, parse=_positive_duration,
        purpose="Longest window one rule query covers; a catch-up after an outage runs in chunks this long.",
    )
    scan_max_chunks: int = setting(
        "SCAN_MAX_CHUNKS", default="24", group=TOKENWARDEN, parse=_chunk_count,
        purpose="Most chunks one rule scans per invocation; a longer backlog continues on the next timer.",
    )
    protected_principals: tuple[str, ...] = setting(
        "PROTECTED_PRINCIPALS", default="", group=TOKENWARDEN, parse=_csv,
        purpose="Comma-separated user object ids, UPNs or group:<object id> entries no action may ever touch "
                "(break-glass accounts); a user whose names cannot be resolved is treated as protected.",
    )
    blast_radius_per_run: int = setting(
        "BLAST_RADIUS_PER_RUN", default="25", group=TOKENWARDEN, parse=_positive,
        purpose="Most principals one response run may act on; the rest wait for approval.",
    )
    blast_radius_per_hour: int = setting(
        "BLAST_RADIUS_PER_HOUR", default="100", group=TOKENWARDEN, parse=_positive,
        purpose="Most principals acted on in any hour across runs; past it, cases wait for approval.",
    )
    triage_policy_file: str = setting(
        "TRIAGE_POLICY_FILE", default="", group=TOKENWARDEN,
        purpose="Path of a triage policy (YAML or JSON); empty uses the shipped shared/data/policy.yaml.",
    )
    graph_endpoint: str = setting(
        "GRAPH_ENDPOINT", default="", group=TOKENWARDEN, parse=_endpoint,
        purpose="Microsoft Graph origin; empty: AZURE_CLOUD's. Another cloud's is refused; loopback http for the "
                "simulator.",
    )
    arm_endpoint: str = setting(
        "ARM_ENDPOINT", default="", group=TOKENWARDEN, parse=_endpoint,
        purpose="Azure Resource Manager origin for Sentinel incidents and site restarts; empty: AZURE_CLOUD's; "
                "loopback http for the simulator.",
    )
    notify_webhook_url: str = setting(
        "NOTIFY_WEBHOOK_URL", default="", group=TOKENWARDEN, parse=_secret_endpoint, secret=True,
        purpose="Webhook (a Teams workflow, say) the notify step posts case summaries to; empty turns notify off.",
    )
    """A workflow URL carries its signature in the query string: a secret, kept out of reprs."""
    cache_refresh_apps: str = setting(
        "CACHE_REFRESH_APPS", default="", group=TOKENWARDEN,
        purpose="JSON list of {app_id, mechanism, target}: how each app is made to drop cached signing keys.",
    )
    approver_role: str = setting(
        "APPROVER_ROLE", default="Tokenwarden.Approver", group=TOKENWARDEN, parse=_app_role,
        purpose="App role (its value) a signed-in caller must hold on the API's app registration to approve.",
    )
    cloud: Cloud = setting(
        "AZURE_CLOUD", default="AzurePublicCloud", group=DEPLOYMENT, parse=_cloud,
        purpose="AzurePublicCloud, AzureUSGovernment or AzureChinaCloud (Bicep's environment().name): the authority, "
                "endpoints and token scopes (shared/core/clouds.py).",
    )
    """AZURE_CLOUD's row of the cloud table: the token scopes always come from it."""
    sentinel_workspace_resource_id: str = setting(
        "SENTINEL_WORKSPACE_RESOURCE_ID", default="", group=DEPLOYMENT, parse=_workspace_resource_id,
        purpose="ARM id of the Sentinel workspace incidents are written to; empty turns the incident step off.",
    )
    event_grid_topic_endpoint: str = setting(
        "EVENT_GRID_TOPIC_ENDPOINT", default="", group=DEPLOYMENT, parse=_endpoint,
        purpose="Event Grid topic that Tokenwarden.SigningKeys.Untrusted events are published to.",
    )
    logs_ingestion_endpoint: str = setting(
        "LOGS_INGESTION_ENDPOINT", default="", group=DEPLOYMENT, parse=_endpoint,
        purpose="Data collection endpoint for the optional TokenwardenAudit_CL audit stream.",
    )
    audit_dcr_immutable_id: str = setting(
        "AUDIT_DCR_IMMUTABLE_ID", default="", group=DEPLOYMENT,
        purpose="Immutable id of the data collection rule that routes the audit stream.",
    )
    audit_stream_name: str = setting(
        "AUDIT_STREAM_NAME", default="", group=DEPLOYMENT,
        purpose="Stream name (Custom-TokenwardenAudit_CL) in that data collection rule.",
    )
    table_service_uri: str = setting(
        "AzureWebJobsStorage__tableServiceUri", default="", group=HOST_STORAGE,
        purpose="Table endpoint of the Function App's storage account (the ledger), for identity-based access.",
    )
    storage_credential: str = setting(
        "AzureWebJobsStorage__credential", default="", group=HOST_STORAGE, parse=_storage_credential,
        purpose="'managedidentity' in Azure: the ledger authenticates with the app's identity, never a key.",
    )
    storage_client_id: str = setting(
        "AzureWebJobsStorage__clientId", default="", group=HOST_STORAGE,
        purpose="Client id of the user-assigned identity the ledger authenticates as.",
    )
    blob_service_uri: str = setting(
        "AzureWebJobsStorage__blobServiceUri", default="", group=HOST_STORAGE,
        purpose="Blob endpoint of the same account: the published untrusted-key list lives there.",
    )
    queue_service_uri: str = setting(
        "AzureWebJobsStorage__queueServiceUri", default="", group=HOST_STORAGE,
        purpose="Queue endpoint of the same account: the respond queue.",
    )
    storage_connection_string: str = setting(
        "AzureWebJobsStorage", default="", group=HOST_STORAGE, secret=True,
        purpose="Local only: a connection string (Azurite's); Azure deployments never set it.",
    )
    """Holds an account key when set (Azurite's), so it stays out of reprs and logs."""
    platform_auth_enabled: bool = setting(
        "WEBSITE_AUTH_ENABLED", default="", group=PLATFORM, parse=_flag,
        purpose="Read-only, injected by App Service when its authentication (Easy Auth) is on; approvals need it. "
                "Never set it yourself.",
    )
    """App Service authentication is on: the platform set ``WEBSITE_AUTH_ENABLED``, so it strips and sets the
    ``X-MS-CLIENT-PRINCIPAL*`` headers itself and they can be trusted."""
    insecure_local_approvals: bool = setting(
        "INSECURE_LOCAL_APPROVALS", default="false", group=LOCAL_ONLY, parse=_flag,
        purpose="Local only (`make demo`, tests): 'true' takes the approver named in the request body unverified. "
                "/api/health reports it; a deployment never sets it.",
    )
    """``INSECURE_LOCAL_APPROVALS``: approvers are taken from request bodies, unverified (local runs only)."""


def _declared() -> tuple[SettingSpec, ...]:
    """The specs the :class:`Settings` fields declare, each told the field it fills."""
    return tuple(replace(f.metadata["setting"], field=f.name) for f in fields(Settings))


def _group(group: Group, specs: tuple[SettingSpec, ...]) -> tuple[SettingSpec, ...]:
    return tuple(spec for spec in specs if spec.group == group)


_SPECS = _declared()
SETTINGS: tuple[SettingSpec, ...] = _group(TOKENWARDEN, _SPECS)
DEPLOYMENT_SETTINGS: tuple[SettingSpec, ...] = _group(DEPLOYMENT, _SPECS)
HOST_STORAGE_SETTINGS: tuple[SettingSpec, ...] = _group(HOST_STORAGE, _SPECS)
PLATFORM_SETTINGS: tuple[SettingSpec, ...] = _group(PLATFORM, _SPECS)
LOCAL_ONLY_SETTINGS: tuple[SettingSpec, ...] = _group(LOCAL_ONLY, _SPECS)
HOST_TELEMETRY_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        name="APPLICATIONINSIGHTS_CONNECTION_STRING",
        default="",
        group=HOST_TELEMETRY,
        purpose="App Insights the host (and, when enabled, OpenTelemetry) sends logs and the audit trail to.",
    ),
    SettingSpec(
        name="APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        default="",
        group=HOST_TELEMETRY,
        purpose="'ClientId=<identity>;Authorization=AAD': telemetry is sent with the app's identity, not a key.",
    ),
)


def settings_table() -> str:
    """The Markdown table of every setting, for docs/operations.md (a test keeps the doc equal to this)."""
    every = (*_SPECS, *HOST_TELEMETRY_SETTINGS)
    rows = ["| setting | group | default | meaning |", "|---|---|---|---|"]
    for group in _GROUPS:
        for spec in _group(group, every):
            default = f"`{spec.default}`" if spec.default else "(none)"
            rows.append(f"| `{spec.name}` | {group} | {default} | {spec.purpose.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def _cloud_endpoint(values: dict[str, Any], key: str, name: str, own: str) -> None:
    """An endpoint that defaults to the cloud's; another non-loopback host would get a token for the wrong audience."""
    text = values[key] or own
    cloud: Cloud = values["cloud"]
    if text != own and not is_loopback(urlsplit(text).hostname or ""):
        raise ConfigurationError(f"{name} is {text!r}, but AZURE_CLOUD={cloud.name} uses {own!r} (its tokens are "
                                 f"for that audience); set AZURE_CLOUD instead, or leave {name} empty")
    values[key] = text


def _check_across(values: dict[str, Any], raw: Mapping[str, str]) -> None:
    """The rules that look at more than one setting; everything else is the declared parsers' job."""
    if values["scan_max_chunk"] <= values["scan_overlap"]:
        raise ConfigurationError(
            f"SCAN_MAX_CHUNK ({raw['SCAN_MAX_CHUNK']}) must be longer than SCAN_OVERLAP ({raw['SCAN_OVERLAP']}), "
            "or a scan could never advance"
        )
    if values["adx_cluster_uri"] and not values["adx_database"]:
        raise ConfigurationError("ADX_CLUSTER_URI is set but ADX_DATABASE is empty; name the database to scan")
    cloud: Cloud = values["cloud"]
    _cloud_endpoint(values, "log_analytics_endpoint", "LOG_ANALYTICS_ENDPOINT", cloud.log_analytics_endpoint)
    _cloud_endpoint(values, "graph_endpoint", "GRAPH_ENDPOINT", cloud.graph_endpoint)
    _cloud_endpoint(values, "arm_endpoint", "ARM_ENDPOINT", cloud.arm_endpoint)


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate settings from *environ*, falling back to the registry defaults.

    Takes the mapping as an argument rather than reading the process environment so tests
    and the CLI can pass their own without patching process state.
    """
    raw = {spec.name: environ.get(spec.name, spec.default).strip() for spec in _SPECS}
    values: dict[str, Any] = {spec.field: spec.parse(spec.name, raw[spec.name]) for spec in _SPECS}
    _check_across(values, raw)
    return Settings(**values)
