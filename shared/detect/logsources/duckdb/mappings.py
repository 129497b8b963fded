"""How each export layout's fields become Log Analytics columns: renames, routing, and the event-time fallback.

A field not named here lands on the table's column of the same name compared
case-insensitively (Graph's ``userPrincipalName`` fills ``UserPrincipalName``,
``ipAddress`` fills ``IPAddress``); only the fields whose column has another
name are listed. docs/formats.md shows the same maps as tables, with Microsoft's
source for each; tests/detect/logsources/test_formats.py keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "EVENT_TIME_COLUMNS",
    "INGESTION_SOURCE_COLUMN",
    "diagnostic_property_renames",
    "diagnostic_renames",
    "graph_sign_in_renames",
    "portal_csv_renames",
    "sign_in_route",
    "unified_audit_renames",
]

EVENT_TIME_COLUMNS = ("CreatedDateTime", "ActivityDateTime", "Timestamp", "Start_Time")
"""Columns whose value fills a missing ``TimeGenerated``, in order of preference: the table's own event time."""

INGESTION_SOURCE_COLUMN = "_TimeReceived"
"""Log Analytics' standard column for when a record arrived; data exports carry it when it was projected."""

_GRAPH_SIGN_IN: Mapping[str, str] = MappingProxyType({
    # Graph signIn (api-reference/v1.0/resources/signin.md) -> SigninLogs and its sibling tables
    "location": "LocationDetails",
    "appliedConditionalAccessPolicies": "ConditionalAccessPolicies",
    "resourceId": "ResourceIdentity",
    "processingTimeInMilliseconds": "ProcessingTimeInMilliseconds",
})

_DIAGNOSTIC_TOP: Mapping[str, str] = MappingProxyType({
    # The resource-log envelope (Azure Monitor "Resource logs" common schema)
    "time": "TimeGenerated",
    "category": "Category",
    "operationName": "OperationName",
    "operationVersion": "OperationVersion",
    "resultType": "ResultType",
    "resultSignature": "ResultSignature",
    "resultDescription": "ResultDescription",
    "durationMs": "DurationMs",
    "correlationId": "CorrelationId",
    "identity": "Identity",
    "level": "Level",
    "location": "Location",
    "resourceId": "ResourceId",
})
_DIAGNOSTIC_DROPPED = frozenset({"callerIpAddress"})  # the properties' ipAddress is the column's source

_TENANT_COLUMN = {"MicrosoftGraphActivityLogs": "AadTenantId"}  # elsewhere AADTenantId (sign-in logs)

_UNIFIED_AUDIT: Mapping[str, str] = MappingProxyType({
    # Office 365 Management Activity API common schema (AuditData) -> OfficeActivity
    "CreationTime": "TimeGenerated",
    "Id": "OfficeId",
    "Workload": "OfficeWorkload",
    "ObjectId": "OfficeObjectId",
    "ClientIPAddress": "Client_IPAddress",
    "LogonType": "Logon_Type",
})

_PORTAL_CSV: Mapping[str, str] = MappingProxyType({
    # Entra portal sign-in download column titles (lower case, spaces removed) -> SigninLogs columns
    "date": "CreatedDateTime",
    "requestid": "Id",
    "user": "UserDisplayName",
    "username": "UserPrincipalName",
    "application": "AppDisplayName",
    "applicationid": "AppId",
    "resource": "ResourceDisplayName",
    "resourceid": "ResourceIdentity",
    "ipaddress(seenbyresource)": "IPAddressFromResourceProvider",
    "signinerrorcode": "ResultType",
    "failurereason": "ResultDescription",
    "clientapp": "ClientAppUsed",
    "conditionalaccess": "ConditionalAccessStatus",
})

_ROUTES = (
    ("nonInteractiveUser", "AADNonInteractiveUserSignInLogs"),
    ("servicePrincipal", "AADServicePrincipalSignInLogs"),
    ("managedIdentity", "AADManagedIdentitySignInLogs"),
)


def graph_sign_in_renames() -> Mapping[str, str]:
    return _GRAPH_SIGN_IN


def diagnostic_renames(table: str) -> tuple[Mapping[str, str], frozenset[str]]:
    """Envelope renames for ``table`` (``tenantId`` goes to the table's Entra-tenant column) and dropped fields."""
    renames = dict(_DIAGNOSTIC_TOP)
    renames["tenantId"] = _TENANT_COLUMN.get(table, "AADTenantId")
    return renames, _DIAGNOSTIC_DROPPED


def diagnostic_property_renames(table: str) -> Mapping[str, str]:
    """Renames inside ``properties``: sign-in fields as in Graph; Graph activity's ``tenantId``."""
    renames = {} if table in _TENANT_COLUMN else dict(_GRAPH_SIGN_IN)
    renames["tenantId"] = _TENANT_COLUMN.get(table, "AADTenantId")
    return renames


def unified_audit_renames() -> Mapping[str, str]:
    return _UNIFIED_AUDIT


def portal_csv_renames() -> Mapping[str, str]:
    return _PORTAL_CSV


def sign_in_route(record: str, default: str) -> str:
    """SQL: the sign-in table of the Graph record in JSON expression ``record``, by its ``signInEventTypes``.

    ``default`` (a table name from our own constants) takes records that name no kind.

    Graph v1.0 ``auditLogs/signIns`` returns interactive sign-ins; the beta
    endpoint's ``signInEventTypes`` names the other kinds, each its own table.
    """
    cases = " ".join(
        f"WHEN list_contains(TRY_CAST(({record} -> '$.signInEventTypes') AS VARCHAR[]), '{kind}') THEN '{table}'"
        for kind, table in _ROUTES
    )
    return f"(CASE {cases} ELSE '{default}' END)"
