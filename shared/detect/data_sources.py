"""What a tenant must turn on for each table a rule reads: the catalogue (``docs/rules.md``) names it per rule.

A rule whose tables are not all connected is deployed to Sentinel disabled (see
:func:`shared.detect.rule_forms.placeholder_query`), so an operator needs to know, rule by rule, which connector,
diagnostic setting or licence brings each table into the workspace. Each entry cites the Microsoft page it
comes from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["DATA_SOURCES", "DataSource", "data_source", "requirements"]


@dataclass(frozen=True)
class DataSource:
    """How a table reaches the workspace (in a few words for the catalogue's index, then in full), and the
    Microsoft page that says so."""

    short: str
    enable: str
    source: str


_ENTRA = DataSource(
    "Entra sign-in/audit logs diagnostic setting (P1/P2)",
    "Microsoft Entra ID diagnostic setting (or Sentinel's Microsoft Entra ID connector) sending the sign-in log "
    "categories to the workspace; Microsoft Entra ID P1 or P2",
    "Microsoft Entra docs, 'Integrate Microsoft Entra logs with Azure Monitor logs' "
    "(entra/identity/monitoring-health/howto-integrate-activity-logs-with-azure-monitor-logs.md)",
)

DATA_SOURCES: Mapping[str, DataSource] = MappingProxyType({
    "SigninLogs": _ENTRA,
    "AADNonInteractiveUserSignInLogs": _ENTRA,
    "AADServicePrincipalSignInLogs": _ENTRA,
    "AADManagedIdentitySignInLogs": _ENTRA,
    "AuditLogs": _ENTRA,
    "MicrosoftGraphActivityLogs": DataSource(
        "Graph activity logs diagnostic setting (P1/P2)",
        "Microsoft Entra ID diagnostic setting with the MicrosoftGraphActivityLogs category; Microsoft Entra ID P1 "
        "or P2",
        "Microsoft Graph docs, 'Access Microsoft Graph activity logs' (concepts/microsoft-graph-activity-logs-"
        "overview.md, Prerequisites)",
    ),
    "OfficeActivity": DataSource(
        "Office 365 connector (Exchange)",
        "Sentinel's Office 365 (Microsoft 365) connector, with Exchange selected",
        "Microsoft Sentinel docs, 'Office 365 connector for Microsoft Sentinel' (articles/sentinel/data-connectors/"
        "office-365.md: OfficeActivity (Exchange), (SharePoint), (Teams))",
    ),
    "CloudAppEvents": DataSource(
        "Defender XDR connector (CloudAppEvents)",
        "Sentinel's Microsoft Defender XDR connector streaming the CloudAppEvents table (Connect events, Defender "
        "for Cloud Apps), with Defender for Cloud Apps' Microsoft 365 app connector; a Defender XDR licence",
        "Microsoft Sentinel docs, 'Connect data from Microsoft Defender XDR' (articles/sentinel/connect-microsoft-"
        "365-defender.md); Defender XDR docs, 'CloudAppEvents' (defender-xdr/advanced-hunting-cloudappevents-"
        "table.md)",
    ),
    "AADUserRiskEvents": DataSource(
        "Entra risk-events diagnostic setting (ID Protection, P2)",
        "Microsoft Entra ID diagnostic setting with the UserRiskEvents category (or Sentinel's Microsoft Entra ID "
        "connector); the detections' details need a Microsoft Entra ID P2 licence",
        "Microsoft Entra docs, 'What are risk detections?' (docs/id-protection/concept-identity-protection-"
        "risks.md: anomalousToken, tokenIssuerAnomaly, attackerinTheMiddle and the licence each needs)",
    ),
    "SecurityAlert": DataSource(
        "Sentinel alert connectors (ID Protection, Defender XDR)",
        "Sentinel's Microsoft Entra ID Protection and Microsoft Defender XDR data connectors, which write their "
        "alerts to SecurityAlert",
        "Microsoft Entra docs, 'Protecting tokens in Microsoft Entra ID' (docs/identity/devices/protecting-tokens-"
        "microsoft-entra-id.md); Microsoft Sentinel docs, 'Connect data from Microsoft Defender XDR' (articles/"
        "sentinel/connect-microsoft-365-defender.md)",
    ),
    "TokenValidation_CL": DataSource(
        "Tokenwarden app sensor",
        "Tokenwarden's app sensor in the applications that validate tokens (docs/sensor.md)",
        "Tokenwarden's own table",
    ),
})
"""Per table, what brings it into the workspace."""

_UNKNOWN = DataSource("see the table's reference", "see the table's Azure Monitor reference page",
                      "not catalogued by Tokenwarden")


def data_source(table: str) -> DataSource:
    """How ``table`` reaches the workspace; a table not catalogued here points at its reference page."""
    return DATA_SOURCES.get(table, _UNKNOWN)


def requirements(tables: Iterable[str], *, short: bool = False) -> list[str]:
    """What to enable for ``tables`` (in full, or in a few words), each distinct requirement once, in the order
    the tables come."""
    sources = [data_source(table) for table in tables]
    return list(dict.fromkeys(source.short if short else source.enable for source in sources))
