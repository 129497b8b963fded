"""How late each table's rows may reach Log Analytics: the bound that limits a rule's ``TimeGenerated`` scan.

Tokenwarden's rules select rows by when they *arrived* (``ingestion_time()``), not by when they happened,
because a scan that windows on ``TimeGenerated`` never reads a row that arrives after its window has
passed. That is the pattern of Microsoft's "Handle ingestion delay in scheduled analytics rules"
(https://learn.microsoft.com/azure/sentinel/ingestion-delay): select on ``ingestion_time()`` within the
window, and bound ``TimeGenerated`` by a look-back that covers the source's worst expected delay, so the
query stays cheap. A row that arrives later than its table's bound after it happened is still missed;
the bounds below are therefore set well above the delays Microsoft documents, and each rule's
``max_ingestion_delay`` parameter (checked against this table when the rules load) can be raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType

__all__ = ["INGESTION_DELAY_BOUNDS", "DelayBound", "delay_bound"]


@dataclass(frozen=True)
class DelayBound:
    """The longest delay Tokenwarden allows a table's rows, and where the documented figure comes from."""

    delay: timedelta
    documented: str
    source: str


_ENTRA_LATENCY = (
    "Microsoft Entra docs, 'Log latency in Microsoft Entra ID' "
    "(entra/identity/monitoring-health/reference-log-latency); the earlier 'reporting latencies' page "
    "gave 2 min (95th percentile) and 5 min (99th) for sign-ins and audit logs"
)
_ENTRA = DelayBound(timedelta(hours=6), "minutes, with no published upper bound", _ENTRA_LATENCY)

INGESTION_DELAY_BOUNDS: Mapping[str, DelayBound] = MappingProxyType({
    "SigninLogs": _ENTRA,
    "AADNonInteractiveUserSignInLogs": _ENTRA,
    "AADServicePrincipalSignInLogs": _ENTRA,
    "AADManagedIdentitySignInLogs": _ENTRA,
    "AuditLogs": _ENTRA,
    "MicrosoftGraphActivityLogs": DelayBound(
        timedelta(hours=6),
        "usually within 30 minutes, sometimes up to 2 hours",
        "Microsoft Graph docs, 'Microsoft Graph activity logs overview' (concepts/microsoft-graph-activity-logs-"
        "overview.md, section on latency)",
    ),
    "OfficeActivity": DelayBound(
        timedelta(hours=24),
        "from 30 minutes up to 24 hours after the event, by service",
        "Microsoft Purview docs, 'Search the audit log' (purview/audit-log-search.md: how long it takes for "
        "audit records to become available)",
    ),
    "TokenValidation_CL": DelayBound(
        timedelta(hours=2),
        "typically 20 seconds to 3 minutes through the Logs Ingestion API",
        "Azure Monitor docs, 'Log data ingestion time in Azure Monitor' (azure-monitor/logs/data-ingestion-"
        "time.md)",
    ),
})
"""Per table, the delay a rule's ``TimeGenerated`` look-back must cover: several times what Microsoft documents."""

_DEFAULT = DelayBound(
    timedelta(hours=24), "not documented for this table", "no Microsoft figure; Tokenwarden's default bound"
)


def delay_bound(table: str) -> DelayBound:
    """The bound for ``table``; a table Tokenwarden has no figure for gets a cautious 24 hours."""
    return INGESTION_DELAY_BOUNDS.get(table, _DEFAULT)
