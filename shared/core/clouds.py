"""The one table of Azure clouds: for each, where Entra, Graph, ARM and Azure Monitor live and which token
audience each service takes.

``AZURE_CLOUD`` names a row; every endpoint default and every token scope Tokenwarden
uses comes from that row, so a deployment in US Government or China never asks for a
public-cloud token. No audience string lives anywhere else in the code
(``tests/core/test_clouds.py`` greps for them). A scope is the service's audience plus
``/.default``.

Sources, each checked for all three clouds:

* Entra authority and Graph: Microsoft Graph "national cloud deployments"
  (``concepts/deployments.md`` in microsoftgraph/microsoft-graph-docs-contrib):
  ``login.microsoftonline.com`` / ``.us`` / ``login.chinacloudapi.cn``; Graph
  ``graph.microsoft.com`` / ``graph.microsoft.us`` (L4; L5 DoD is
  ``dod-graph.microsoft.us``, not supported here) / ``microsoftgraph.chinacloudapi.cn``.
* ARM: ``management.azure.com`` / ``management.usgovcloudapi.net`` /
  ``management.chinacloudapi.cn`` (Azure Government and Azure China developer guides;
  Bicep's ``environment().resourceManager``).
* Log Analytics query API: ``api.loganalytics.io`` / ``api.loganalytics.us`` /
  ``api.loganalytics.azure.cn``; azure-monitor-query takes the endpoint as the token
  audience unless told otherwise (``LogsQueryClient``: "audience ... Defaults to the endpoint").
* Logs Ingestion: the data collection endpoint is per deployment (a DCE output); the
  audience is ``monitor.azure.com`` / ``monitor.azure.us`` / ``monitor.azure.cn``
  (Azure.Monitor.Ingestion ``LogsIngestionAudience`` in Azure/azure-sdk-for-net).
* Event Grid: the topic endpoint is per deployment; the audience is
  ``https://eventgrid.azure.net`` in every cloud: azure-eventgrid's publisher signs with
  the fixed scope ``DEFAULT_EVENTGRID_SCOPE`` whatever the topic's host, and offers no
  way to ask for another.

Bicep's ``environment().name`` says ``AzureCloud`` for the public cloud; it is accepted
as another name of ``AzurePublicCloud``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.core.errors import ConfigurationError

__all__ = ["AZURE_CHINA", "AZURE_PUBLIC", "AZURE_US_GOVERNMENT", "CLOUDS", "Cloud", "cloud_named"]


@dataclass(frozen=True, kw_only=True)
class Cloud:
    name: str
    authority_host: str
    """Where managed identities and apps get tokens (azure-identity's ``authority``)."""
    graph_endpoint: str
    arm_endpoint: str
    log_analytics_endpoint: str
    logs_ingestion_audience: str
    event_grid_audience: str

    @staticmethod
    def _scope(audience: str) -> str:
        return f"{audience.rstrip('/')}/.default"

    @property
    def graph_scope(self) -> str:
        return self._scope(self.graph_endpoint)

    @property
    def arm_scope(self) -> str:
        return self._scope(self.arm_endpoint)

    @property
    def log_analytics_scope(self) -> str:
        return self._scope(self.log_analytics_endpoint)

    @property
    def logs_ingestion_scope(self) -> str:
        return self._scope(self.logs_ingestion_audience)

    @property
    def event_grid_scope(self) -> str:
        return self._scope(self.event_grid_audience)


AZURE_PUBLIC = Cloud(
    name="AzurePublicCloud",
    authority_host="https://login.microsoftonline.com",
    graph_endpoint="https://graph.microsoft.com",
    arm_endpoint="https://management.azure.com",
    log_analytics_endpoint="https://api.loganalytics.io",
    logs_ingestion_audience="https://monitor.azure.com",
    event_grid_audience="https://eventgrid.azure.net",
)
AZURE_US_GOVERNMENT = Cloud(
    name="AzureUSGovernment",
    authority_host="https://login.microsoftonline.us",
    graph_endpoint="https://graph.microsoft.us",
    arm_endpoint="https://management.usgovcloudapi.net",
    log_analytics_endpoint="https://api.loganalytics.us",
    logs_ingestion_audience="https://monitor.azure.us",
    event_grid_audience="https://eventgrid.azure.net",
)
AZURE_CHINA = Cloud(
    name="AzureChinaCloud",
    authority_host="https://login.chinacloudapi.cn",
    graph_endpoint="https://microsoftgraph.chinacloudapi.cn",
    arm_endpoint="https://management.chinacloudapi.cn",
    log_analytics_endpoint="https://api.loganalytics.azure.cn",
    logs_ingestion_audience="https://monitor.azure.cn",
    event_grid_audience="https://eventgrid.azure.net",
)

CLOUDS: Mapping[str, Cloud] = {cloud.name: cloud for cloud in (AZURE_PUBLIC, AZURE_US_GOVERNMENT, AZURE_CHINA)}
_ALIASES = {"azurecloud": AZURE_PUBLIC}


def cloud_named(name: str) -> Cloud:
    """The cloud ``AZURE_CLOUD`` names (case-insensitive; ``AzureCloud`` is the public cloud's Bicep name)."""
    wanted = name.strip().lower()
    for cloud in CLOUDS.values():
        if cloud.name.lower() == wanted:
            return cloud
    if wanted in _ALIASES:
        return _ALIASES[wanted]
    raise ConfigurationError(f"AZURE_CLOUD is {name!r}; expected one of {', '.join(CLOUDS)}")
