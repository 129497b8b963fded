"""Benchmark tables for issue 14's rules: Microsoft's token signals and the proof that containment held.

Same scheme as :mod:`bench.synthetic` (rows from SQL over ``range(n)``, hash-derived values): mostly benign rows
(risk detections and alerts that are not about tokens, audit activity that revokes nothing, mail reads with fresh
tokens) and a sparse sprinkle of planted ones in the scanned last day.
"""

from __future__ import annotations

from bench.synthetic import _SPAN_SECONDS as SPAN_SECONDS
from bench.synthetic import _planted as planted
from bench.synthetic import _ts as ts

__all__ = ["SIGNAL_GENERATED", "SIGNAL_TABLES", "SIGNIN_RISK_COLUMNS"]

SIGNAL_TABLES = ("AADUserRiskEvents", "SecurityAlert", "AuditLogs")
"""CloudAppEvents, which issue 14's containment rule reads too, is built in :mod:`bench.synthetic`."""
_WHEN = ts(f"(i * {SPAN_SECONDS} // n)")
_USER = "'user-' || (h % 5000)"
_IP = "'203.0.' || (h % 250) || '.' || (h // 250 % 250)"

SIGNAL_GENERATED: dict[str, dict[str, str]] = {
    "AADUserRiskEvents": {
        "TimeGenerated": _WHEN, "Id": "'det-' || i", "RequestId": "'req-' || i",
        "ActivityDateTime": _WHEN, "DetectedDateTime": _WHEN, "LastUpdatedDateTime": _WHEN,
        "RiskEventType": f"CASE WHEN {planted(9901)} THEN 'anomalousToken' WHEN h % 3 = 0 THEN 'unfamiliarFeatures' "
                         "WHEN h % 3 = 1 THEN 'anonymizedIPAddress' ELSE 'anomalousToken' END",
        # Benign token detections are dismissed or confirmed safe; the planted ones are at risk.
        "RiskState": f"CASE WHEN {planted(9901)} THEN 'atRisk' WHEN h % 2 = 0 THEN 'dismissed' "
                     "ELSE 'confirmedSafe' END",
        "RiskLevel": "'medium'", "RiskDetail": "'none'", "DetectionTimingType": "'offline'",
        "Source": "'IdentityProtection'", "TokenIssuerType": "'AzureAD'", "IpAddress": _IP,
        "UserId": _USER, "UserPrincipalName": "'user' || (h % 5000) || '@contoso.example'",
    },
    "SecurityAlert": {
        "TimeGenerated": _WHEN, "SystemAlertId": "'alert-' || i", "StartTime": _WHEN, "EndTime": _WHEN,
        "AlertName": f"CASE WHEN {planted(9887)} THEN 'Stolen session cookie was used' "
                     "ELSE 'Unfamiliar sign-in properties' END",
        "AlertSeverity": "'Medium'", "ProductName": "'Azure Active Directory Identity Protection'",
        "ProviderName": "'IPC'", "Status": "'New'", "CompromisedEntity": "'user' || (h % 5000) || '@contoso.example'",
        "Entities": "'[{\"Type\":\"account\",\"AadUserId\":\"' || (h % 5000) || '\"},"
                    "{\"Type\":\"ip\",\"Address\":\"203.0.113.' || (h % 250) || '\"}]'",
    },
    "AuditLogs": {
        "TimeGenerated": _WHEN, "ActivityDateTime": _WHEN, "Id": "'audit-' || i",
        "OperationName": f"CASE WHEN {planted(9871)} THEN 'Update StsRefreshTokenValidFrom Timestamp' "
                         "WHEN h % 4 = 0 THEN 'Update user' WHEN h % 4 = 1 THEN 'Add member to group' "
                         "ELSE 'Update application' END",
        "Result": "'success'", "Category": "'UserManagement'",
        "TargetResources": f"json_array(json_object('id', CASE WHEN {planted(9871)} THEN 'user-revoked-' || i "
                           f"ELSE {_USER} END, 'type', 'User'))",
        "InitiatedBy": "json_object('user', json_object('userPrincipalName', 'admin@contoso.example'))",
    },
}
"""Values per row i (``h`` is hash(i)), as in :data:`bench.synthetic._GENERATED`."""

SIGNIN_RISK_COLUMNS = {
    # A sprinkle of sign-ins that carry ID Protection's token detection themselves.
    "RiskEventTypes_V2": f"CASE WHEN {planted(9859)} THEN '[\"anomalousToken\"]' ELSE '[]' END",
    "RiskState": f"CASE WHEN {planted(9859)} THEN 'atRisk' ELSE 'none' END",
    "Id": "'signin-' || i",
}
