"""Demo rows for Microsoft's own token signals and for containment that did not hold (issue 14 §2 and §4).

Planted, each with its look-alike:

- an Entra ID Protection ``anomalousToken`` detection at risk (``AADUserRiskEvents``), beside one an admin
  dismissed and one confirmed safe;
- a Defender XDR "Stolen session cookie was used" alert (``SecurityAlert``), beside an ID Protection alert that is
  not about tokens;
- an admin's session revocation (``AuditLogs`` "Update StsRefreshTokenValidFrom Timestamp") after which a Graph
  token issued before it is still used from the attacker's address, beside a user whose own client sends its old
  token once more right after a revocation and signs in again from the same address.

Shapes follow the table references in ``shared/schemas`` (a test checks every key is a column); ``Entities`` is the
JSON text Sentinel writes (Account ``AadUserId``/``Name``/``UPNSuffix``, IP ``Address``).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from shared.devkit.demo_data.rows import BROWSER_AGENTS, graph_row, new_uti, user_signin_row
from shared.devkit.demo_data.tenant import DemoApp, DemoUser, rng_uuid
from shared.devkit.demo_data.writer import TableWriters

__all__ = ["audit_revocation_row", "plant_token_signals", "risk_event_row", "security_alert_row"]

Plant = Callable[..., None]
"""``plant(rule_id, kind, description, token_id=..., user_upn=...)``: records a planted case."""


def risk_event_row(rng: random.Random, *, when: datetime, user: DemoUser, risk_type: str, state: str, level: str,
                   ip: str, updated: datetime | None = None, detection_id: str | None = None) -> dict[str, object]:
    return {
        "TimeGenerated": updated or when, "Id": detection_id or rng_uuid(rng), "RequestId": rng_uuid(rng),
        "CorrelationId": rng_uuid(rng), "Activity": "signin", "ActivityDateTime": when, "DetectedDateTime": when,
        "LastUpdatedDateTime": updated or when, "DetectionTimingType": "offline",
        "OperationName": "User Risk Detection",
        "RiskEventType": risk_type, "RiskState": state, "RiskLevel": level,
        "RiskDetail": "adminDismissedAllRiskForUser" if state == "dismissed" else
        "adminConfirmedSigninSafe" if state == "confirmedSafe" else "none",
        "Source": "IdentityProtection", "SourceSystem": "Azure AD", "TokenIssuerType": "AzureAD", "IpAddress": ip,
        "Location": {"city": "Amsterdam", "state": "Noord-Holland", "countryOrRegion": "NL"},
        "AdditionalInfo": [{"Key": "userAgent", "Value": BROWSER_AGENTS[0]}],
        "UserId": user.object_id, "UserPrincipalName": user.upn, "UserDisplayName": user.display_name,
    }


def security_alert_row(rng: random.Random, *, when: datetime, user: DemoUser, name: str, product: str, ip: str,
                       status: str = "New") -> dict[str, object]:
    name_part, _, suffix = user.upn.partition("@")
    entities = [{"$id": "2", "Type": "account", "Name": name_part, "UPNSuffix": suffix, "AadUserId": user.object_id},
                {"$id": "3", "Type": "ip", "Address": ip}]
    alert_id = rng_uuid(rng)
    return {
        "TimeGenerated": when, "SystemAlertId": alert_id, "VendorOriginalId": rng_uuid(rng), "AlertName": name,
        "DisplayName": name, "AlertType": name.replace(" ", ""), "AlertSeverity": "High", "ConfidenceLevel": "",
        "Description": name, "ProductName": product, "ProductComponentName": "", "VendorName": "Microsoft",
        "ProviderName": "IPC" if "Identity Protection" in product else "MTP", "Status": status,
        "CompromisedEntity": user.upn, "Entities": json.dumps(entities), "ExtendedProperties": "{}",
        "StartTime": when - timedelta(minutes=5), "EndTime": when - timedelta(minutes=4), "IsIncident": False,
        "ProcessingEndTime": when, "Tactics": "CredentialAccess", "Techniques": "T1539",
        "AlertLink": f"https://security.microsoft.com/alerts/{alert_id}",
    }


def audit_revocation_row(rng: random.Random, *, when: datetime, user: DemoUser, tenant_id: str,
                         activity: str = "Update StsRefreshTokenValidFrom Timestamp") -> dict[str, object]:
    return {
        "TimeGenerated": when, "ActivityDateTime": when, "Id": rng_uuid(rng), "CorrelationId": rng_uuid(rng),
        "OperationName": activity, "ActivityDisplayName": activity, "Category": "UserManagement",
        "Result": "success", "LoggedByService": "Core Directory", "AADOperationType": "Update",
        "AADTenantId": tenant_id, "OperationVersion": "1.0", "Identity": "secops@contoso.example",
        "InitiatedBy": {"user": {"id": rng_uuid(rng), "userPrincipalName": "secops@contoso.example",
                                 "ipAddress": "203.0.113.200"}},
        "TargetResources": [{"id": user.object_id, "type": "User", "userPrincipalName": user.upn,
                             "modifiedProperties": [{"displayName": "StsRefreshTokensValidFrom"}]}],
    }


def plant_token_signals(out: TableWriters, rng: random.Random, *, users: tuple[DemoUser, ...], tenant_id: str,
                        graph: DemoApp, client: DemoApp, end: datetime, attacker_ip: str, plant: Plant) -> None:
    """Plant the three new kinds and their look-alikes in the hours before *end*."""
    base = end - timedelta(hours=4)
    at_risk, dismissed, safe = users[9 % len(users)], users[-3], users[-4]
    out.write("AADUserRiskEvents", risk_event_row(rng, when=base, user=at_risk, risk_type="anomalousToken",
                                                  state="atRisk", level="high", ip=attacker_ip))
    plant("token-risk-detection", "attack", "ID Protection anomalousToken detection, at risk",
          user_upn=at_risk.upn)
    detection = rng_uuid(rng)
    for state, offset in (("atRisk", 0), ("dismissed", 25)):
        out.write("AADUserRiskEvents", risk_event_row(
            rng, when=base + timedelta(minutes=10), user=dismissed, risk_type="anomalousToken", state=state,
            level="low", ip=dismissed.ip_addresses[0], detection_id=detection,
            updated=base + timedelta(minutes=10 + offset)))
    plant("token-risk-detection", "lookalike", "anomalousToken detection an admin dismissed", user_upn=dismissed.upn)
    out.write("AADUserRiskEvents", risk_event_row(rng, when=base + timedelta(minutes=20), user=safe,
                                                  risk_type="attackerinTheMiddle", state="confirmedSafe",
                                                  level="medium", ip=safe.ip_addresses[0]))
    plant("token-risk-detection", "lookalike", "attackerinTheMiddle detection confirmed safe", user_upn=safe.upn)
    for user in users[:5]:  # what a tenant's risk stream mostly holds: detections that are not about tokens
        out.write("AADUserRiskEvents", risk_event_row(rng, when=base - timedelta(hours=rng.randint(1, 20)), user=user,
                                                      risk_type="unfamiliarFeatures", state="atRisk", level="low",
                                                      ip=user.ip_addresses[0]))

    cookie_victim, unrelated = users[10 % len(users)], users[-5]
    out.write("SecurityAlert", security_alert_row(rng, when=base + timedelta(minutes=30), user=cookie_victim,
                                                  name="Stolen session cookie was used",
                                                  product="Microsoft 365 Defender", ip=attacker_ip))
    plant("token-theft-alert", "attack", "Defender XDR: stolen session cookie was used", user_upn=cookie_victim.upn)
    out.write("SecurityAlert", security_alert_row(rng, when=base + timedelta(minutes=35), user=unrelated,
                                                  name="Unfamiliar sign-in properties",
                                                  product="Azure Active Directory Identity Protection",
                                                  ip=unrelated.ip_addresses[0]))
    plant("token-theft-alert", "lookalike", "an ID Protection alert that is not about tokens", user_upn=unrelated.upn)

    # Containment that did not hold: an admin revoked the sessions, the attacker's older Graph token kept working.
    victim = users[11 % len(users)]
    revoked = base + timedelta(minutes=45)
    out.write("AuditLogs", audit_revocation_row(rng, when=revoked, user=victim, tenant_id=tenant_id))
    uti = new_uti(rng)
    # The token is genuine (Entra issued it; the attacker stole it), so its sign-in is in the logs.
    out.write("AADNonInteractiveUserSignInLogs", user_signin_row(
        rng, when=revoked - timedelta(minutes=40), user=victim, client=client, resource=graph,
        ip=victim.ip_addresses[0], uti=uti, tenant_id=tenant_id, interactive=False))
    for minutes in (70, 95, 130):
        out.write("MicrosoftGraphActivityLogs", graph_row(
            rng, when=revoked + timedelta(minutes=minutes), tenant_id=tenant_id, app_id=client.app_id,
            user_id=victim.object_id, service_principal_id=None, ip=attacker_ip, uti=uti,
            issued_at=revoked - timedelta(minutes=40), user_agent="Client=REST;Client=RESTSystem;;",
            uri=f"https://graph.microsoft.com/v1.0/users/{victim.object_id}/messages"))
    plant("containment-breached", "attack", "a Graph token issued before an admin's revocation used for hours after",
          token_id=uti)

    # The look-alike: the user's own client sends its old token once more, then signs in again from there.
    refresher = users[-6]
    revoked = base + timedelta(minutes=60)
    out.write("AuditLogs", audit_revocation_row(rng, when=revoked, user=refresher, tenant_id=tenant_id))
    uti, ip = new_uti(rng), refresher.ip_addresses[0]
    out.write("AADNonInteractiveUserSignInLogs", user_signin_row(
        rng, when=revoked - timedelta(minutes=25), user=refresher, client=client, resource=graph, ip=ip, uti=uti,
        tenant_id=tenant_id, interactive=False))
    out.write("MicrosoftGraphActivityLogs", graph_row(
        rng, when=revoked + timedelta(minutes=2), tenant_id=tenant_id, app_id=client.app_id,
        user_id=refresher.object_id, service_principal_id=None, ip=ip, uti=uti,
        issued_at=revoked - timedelta(minutes=25), user_agent=BROWSER_AGENTS[0]))
    out.write("AADNonInteractiveUserSignInLogs", user_signin_row(
        rng, when=revoked + timedelta(minutes=3), user=refresher, client=client, resource=graph, ip=ip,
        uti=new_uti(rng), tenant_id=tenant_id, interactive=False))
    plant("containment-breached", "lookalike", "a client refreshing from the same network minutes after a revocation",
          token_id=uti)
