"""Every app setting Tokenwarden reads, in one registry.

The registry exists so that deployment can be checked against the code: the
Bicep tests assert that each name here is defined in the Function App's app
settings, and a test fails if any module reads the environment directly instead
of going through :func:`load_settings`. Nothing here reads the environment at
import time, so importing this module is free on the cold-start path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from shared.errors import ConfigurationError
from shared.timeparse import parse_duration

__all__ = ["SETTINGS", "SettingSpec", "Settings", "load_settings"]


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
)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The typed, validated view of the app settings a run uses."""

    scan_schedule: str
    response_mode: str
    workspace_id: str
    entra_tenant_id: str
    extra_compromised_keys: tuple[str, ...]
    graph_allowlist_apps: tuple[str, ...]
    scan_lookback: timedelta
    key_sources: tuple[str, ...]
    app_catalog_file: str
    local_logs_dir: str


_MODES = ("dry-run", "approval", "auto")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate settings from *environ*, falling back to the registry defaults.

    Takes the mapping as an argument rather than reading the process environment so tests
    and the CLI can pass their own without patching process state.
    """
    defaults = {spec.name: spec.default for spec in SETTINGS}

    def get(name: str) -> str:
        return environ.get(name, defaults[name]).strip()

    mode = get("RESPONSE_MODE").lower()
    if mode not in _MODES:
        raise ConfigurationError(
            f"RESPONSE_MODE is {mode!r}; expected one of {', '.join(_MODES)}"
        )
    try:
        lookback = parse_duration(get("SCAN_LOOKBACK"))
    except ValueError as exc:
        raise ConfigurationError(f"SCAN_LOOKBACK: {exc}") from None
    return Settings(
        scan_schedule=get("SCAN_SCHEDULE"),
        response_mode=mode,
        workspace_id=get("LOG_ANALYTICS_WORKSPACE_ID"),
        entra_tenant_id=get("ENTRA_TENANT_ID"),
        extra_compromised_keys=_csv(get("EXTRA_COMPROMISED_KEYS")),
        graph_allowlist_apps=_csv(get("GRAPH_ACTIVITY_ALLOWLIST_APPS")),
        scan_lookback=lookback,
        key_sources=_csv(get("KEY_SOURCES")),
        app_catalog_file=get("APP_CATALOG_FILE"),
        local_logs_dir=get("LOCAL_LOGS_DIR"),
    )
