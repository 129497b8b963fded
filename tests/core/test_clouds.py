"""AZURE_CLOUD decides the authority, the endpoints and the token scopes together, from one table
(shared/core/clouds.py)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken

from shared.audit.ingestion import AuditSink
from shared.core.clouds import AZURE_CHINA, AZURE_PUBLIC, AZURE_US_GOVERNMENT, CLOUDS, cloud_named
from shared.core.errors import ConfigurationError
from shared.core.settings import load_settings
from shared.devkit.simulator import TenantState
from shared.respond.steps.key_cache import KeyCacheRefresher
from tests.support.graph import serving

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE_HOSTS = re.compile(
    r"graph\.microsoft\.(com|us)|microsoftgraph\.chinacloudapi\.cn|management\.(azure\.com|usgovcloudapi\.net|"
    r"chinacloudapi\.cn|core\.)|api\.loganalytics\.(io|us|azure\.cn)|monitor\.azure\.(com|us|cn)|"
    r"eventgrid\.azure\.net")
"""Every service host Tokenwarden asks tokens for, in any cloud."""
# Log rows the demo generates carry Graph request URLs as data (MicrosoftGraphActivityLogs.RequestUri), not
# as endpoints or audiences; the rules' KQL is data too.
NOT_CODE = ("shared/devkit/demo_data/", "shared/rules/")


def _code_files() -> list[Path]:
    files = [ROOT / "function_app.py", *(ROOT / "functions").rglob("*.py"), *(ROOT / "shared").rglob("*.py"),
             *(ROOT / "tools").rglob("*.py")]
    return [path for path in files if not path.relative_to(ROOT).as_posix().startswith(NOT_CODE)]


def audience_strings(text: str) -> list[str]:
    return [match.group(0) for match in AUDIENCE_HOSTS.finditer(text)]


def test_the_guard_finds_an_audience_string_when_there_is_one() -> None:
    assert audience_strings('SCOPE = "https://monitor.azure.us/.default"') == ["monitor.azure.us"]
    assert audience_strings('base = "https://graph.microsoft.com/v1.0"') == ["graph.microsoft.com"]
    assert audience_strings("issuer = 'https://login.microsoftonline.com/{tid}/v2.0'") == []


def test_no_audience_or_endpoint_string_lives_outside_the_cloud_table() -> None:
    found = {path.relative_to(ROOT).as_posix(): audience_strings(path.read_text(encoding="utf-8"))
             for path in _code_files() if path.name != "clouds.py" or path.parent.name != "core"}
    assert {path: hits for path, hits in found.items() if hits} == {}


@pytest.mark.parametrize("cloud", list(CLOUDS.values()), ids=list(CLOUDS))
def test_one_setting_moves_every_endpoint_and_scope(cloud: object) -> None:
    assert cloud in CLOUDS.values()
    settings = load_settings({"AZURE_CLOUD": cloud.name})  # type: ignore[attr-defined]
    assert settings.cloud is cloud
    assert (settings.graph_endpoint, settings.arm_endpoint, settings.log_analytics_endpoint) == (
        cloud.graph_endpoint, cloud.arm_endpoint, cloud.log_analytics_endpoint)  # type: ignore[attr-defined]
    scopes = (cloud.graph_scope, cloud.arm_scope, cloud.log_analytics_scope,  # type: ignore[attr-defined]
              cloud.logs_ingestion_scope)  # type: ignore[attr-defined]
    assert all(scope.endswith("/.default") for scope in scopes)
    suffix = {"AzurePublicCloud": (".com", ".io"), "AzureUSGovernment": (".us", ".net"),
              "AzureChinaCloud": (".cn",)}[cloud.name]  # type: ignore[attr-defined]
    assert all(scope.removesuffix("/.default").endswith(suffix) for scope in scopes), scopes


def test_the_national_clouds_are_microsofts_published_values() -> None:
    assert AZURE_US_GOVERNMENT.authority_host == "https://login.microsoftonline.us"
    assert AZURE_US_GOVERNMENT.graph_scope == "https://graph.microsoft.us/.default"
    assert AZURE_US_GOVERNMENT.logs_ingestion_scope == "https://monitor.azure.us/.default"
    assert AZURE_CHINA.authority_host == "https://login.chinacloudapi.cn"
    assert AZURE_CHINA.graph_endpoint == "https://microsoftgraph.chinacloudapi.cn"
    assert AZURE_CHINA.log_analytics_scope == "https://api.loganalytics.azure.cn/.default"
    assert {cloud.event_grid_scope for cloud in CLOUDS.values()} == {"https://eventgrid.azure.net/.default"}


def test_bicep_names_are_understood_and_unknown_clouds_refused_in_one_line() -> None:
    assert cloud_named("AzureCloud") is AZURE_PUBLIC  # environment().name in the public cloud
    assert cloud_named("azureusgovernment") is AZURE_US_GOVERNMENT
    with pytest.raises(ConfigurationError, match=r"^AZURE_CLOUD is 'AzureGermanCloud'; expected one of") as error:
        load_settings({"AZURE_CLOUD": "AzureGermanCloud"})
    assert "\n" not in str(error.value)


def test_an_endpoint_of_another_cloud_is_refused_but_loopback_is_allowed() -> None:
    with pytest.raises(ConfigurationError, match="AZURE_CLOUD=AzureChinaCloud"):
        load_settings({"AZURE_CLOUD": "AzureChinaCloud", "ARM_ENDPOINT": AZURE_PUBLIC.arm_endpoint})
    local = load_settings({"AZURE_CLOUD": "AzureChinaCloud", "ARM_ENDPOINT": "http://127.0.0.1:8080"})
    assert local.arm_endpoint == "http://127.0.0.1:8080" and local.cloud.arm_scope == AZURE_CHINA.arm_scope


class _RecordingCredential:
    def __init__(self) -> None:
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken("t", int(time.time()) + 3600)


def test_clients_ask_for_the_clouds_scope() -> None:
    settings = load_settings({"AZURE_CLOUD": "AzureUSGovernment", "LOGS_INGESTION_ENDPOINT": "https://dce.example.us",
                              "AUDIT_DCR_IMMUTABLE_ID": "dcr-1"})
    sink = AuditSink.from_settings(settings, _RecordingCredential())
    assert sink is not None and sink.scope == AZURE_US_GOVERNMENT.logs_ingestion_scope


def test_a_site_restart_in_us_government_asks_for_a_us_government_arm_token() -> None:
    credential = _RecordingCredential()
    site = f"/subscriptions/{'0' * 8}-0000-0000-0000-{'0' * 12}/resourceGroups/rg/providers/Microsoft.Web/sites/app"
    with serving(TenantState(tenant_id="aaaaaaaa-0000-0000-0000-000000000003")) as server:
        settings = load_settings({"AZURE_CLOUD": "AzureUSGovernment", "ARM_ENDPOINT": server.url,
                                  "CACHE_REFRESH_APPS": f'[{{"app_id": "*", "mechanism": "restart", '
                                                        f'"target": "{site}"}}]'})
        refresher = KeyCacheRefresher.from_settings(settings, credential)

        async def go() -> None:
            async with refresher:
                await refresher.refresh(refresher.targets_for(None)[0], untrusted_kids=["k"], event_id="e",
                                        reason="r")

        asyncio.run(go())
    assert credential.scopes == [AZURE_US_GOVERNMENT.arm_scope]
