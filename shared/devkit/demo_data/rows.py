"""Row builders for each exported table, with the columns a real workspace fills.

Column names come from the table schemas in ``shared/schemas``; a test checks
that every key written here is a known column, so a typo cannot invent one.
"""

from __future__ import annotations

import base64
import json
import random
from datetime import datetime, timedelta

from shared.devkit.demo_data.tenant import DemoApp, DemoUser, rng_uuid

__all__ = [
    "cloud_app_mail_row",
    "graph_row",
    "mail_row",
    "new_uti",
    "service_signin_row",
    "token_validation_row",
    "user_signin_row",
]

HOME_COUNTRY = "NL"
HOME_ASN = "1136"
"""Where the demo tenant's users sign in from: the Netherlands, one Dutch carrier's autonomous system."""
HOME_ISP = "KPN B.V."
"""The ISP Defender names for the home autonomous system's addresses."""

BROWSER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)",
)


def new_uti(rng: random.Random) -> str:
    """A uti claim: 16 random bytes, base64url without padding, as Entra issues them."""
    return base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode("ascii").rstrip("=")


def user_signin_row(
    rng: random.Random, *, when: datetime, user: DemoUser, client: DemoApp, resource: DemoApp, ip: str,
    uti: str, tenant_id: str, interactive: bool,
) -> dict[str, object]:
    row: dict[str, object] = {
        "TimeGenerated": when,
        "CreatedDateTime": when,
        "Id": rng_uuid(rng),
        "CorrelationId": rng_uuid(rng),
        "OperationName": "Sign-in activity",
        "Category": "SignInLogs" if interactive else "NonInteractiveUserSignInLogs",
        "ResultType": "0",
        "ResultSignature": "SUCCESS",
        "AppDisplayName": client.display_name,
        "AppId": client.app_id,
        "UserPrincipalName": user.upn,
        "UserDisplayName": user.display_name,
        "UserId": user.object_id,
        "UserType": "Member",
        "IPAddress": ip,
        "UserAgent": rng.choice(BROWSER_AGENTS),
        "UniqueTokenIdentifier": uti,
        "HomeTenantId": tenant_id,
        "ResourceTenantId": tenant_id,
        "ResourceDisplayName": resource.display_name,
        "ResourceIdentity": resource.app_id,
        "IsInteractive": interactive,
        "TokenIssuerType": "AzureAD",
        "ClientAppUsed": "Browser" if interactive else "Mobile Apps and Desktop clients",
        "Location": "NL",
        "AutonomousSystemNumber": HOME_ASN,
    }
    location = {"city": "Amsterdam", "state": "Noord-Holland", "countryOrRegion": "NL"}
    if interactive:
        row["AADTenantId"] = tenant_id  # only the interactive table has this column
        row["LocationDetails"] = location  # dynamic in SigninLogs
    else:
        row["LocationDetails"] = json.dumps(location)  # a string column in the non-interactive table
    return row


def service_signin_row(
    rng: random.Random, *, when: datetime, principal: DemoApp, resource: DemoApp, ip: str, uti: str,
    managed_identity: bool,
) -> dict[str, object]:
    return {
        "TimeGenerated": when,
        "Id": rng_uuid(rng),
        "CorrelationId": rng_uuid(rng),
        "OperationName": "Sign-in activity",
        "Category": "ManagedIdentitySignInLogs" if managed_identity else "ServicePrincipalSignInLogs",
        "ResultType": "0",
        "AppId": principal.app_id,
        "ServicePrincipalId": principal.app_id,
        "ServicePrincipalName": principal.display_name,
        "IPAddress": ip,
        "UniqueTokenIdentifier": uti,
        "ResourceDisplayName": resource.display_name,
        "ResourceIdentity": resource.app_id,
        "Location": "WestEurope" if managed_identity else "NL",
    }


def graph_row(
    rng: random.Random, *, when: datetime, tenant_id: str, app_id: str, user_id: str | None,
    service_principal_id: str | None, ip: str, uti: str, issued_at: datetime, user_agent: str,
    uri: str = "https://graph.microsoft.com/v1.0/me/messages",
) -> dict[str, object]:
    return {
        "TimeGenerated": when,
        "RequestId": rng_uuid(rng),
        "OperationId": rng_uuid(rng),
        "ClientRequestId": rng_uuid(rng),
        "ApiVersion": "v1.0",
        "RequestMethod": "GET",
        "RequestUri": uri,
        "ResponseStatusCode": 200,
        "ResponseSizeBytes": rng.randint(400, 40000),
        "DurationMs": rng.randint(20, 900),
        "IPAddress": ip,
        "UserAgent": user_agent,
        "AppId": app_id,
        "UserId": user_id,
        "ServicePrincipalId": service_principal_id,
        "SignInActivityId": uti,
        "TokenIssuedAt": issued_at,
        "AadTenantId": tenant_id,
        "Scopes": "Mail.Read User.Read" if user_id else None,
        "Roles": None if user_id else "User.Read.All",
        "Location": "West Europe",
    }


def mail_row(
    rng: random.Random, *, when: datetime, tenant_id: str, user: DemoUser | str, mailbox_upn: str,
    app_id: str, client_app_id: str, client_ip: str, client_info: str,
) -> dict[str, object]:
    upn = user.upn if isinstance(user, DemoUser) else user
    return {
        "TimeGenerated": when,
        "Operation": "MailItemsAccessed",
        "RecordType": "ExchangeItemAggregated",
        "OfficeWorkload": "Exchange",
        "OfficeId": rng_uuid(rng),
        "UserId": upn,
        "UserType": "Regular",
        "MailboxOwnerUPN": mailbox_upn,
        "Client_IPAddress": client_ip,  # where real MailItemsAccessed records carry it (not ClientIP)
        "AppId": app_id,
        "ClientAppId": client_app_id,
        "ClientInfoString": client_info,
        "OrganizationId": tenant_id,
        "OrganizationName": "contoso.example",
        "ResultStatus": "Succeeded",
    }


def token_validation_row(
    *, when: datetime, app: DemoApp, issuer: str, tid: str, kid: str, uti: str, oid: str, upn: str,
    client_app_id: str, issued_at: datetime, lifetime: timedelta, ip: str, user_agent: str,
    idp: str | None = None, version: str = "2.0", outcome: str = "Accepted", x5t: str | None = None,
    not_before: datetime | None = None, failure_reason: str | None = None,
) -> dict[str, object]:
    expires = issued_at + lifetime
    audience = app.app_id if version == "2.0" else (app.identifier_uri or app.app_id)
    claims = {
        "aud": audience, "iss": issuer, "tid": tid, "oid": oid, "uti": uti, "ver": version,
        "azp" if version == "2.0" else "appid": client_app_id,
        "iat": int(issued_at.timestamp()), "exp": int(expires.timestamp()),
    }
    if idp:
        claims["idp"] = idp
    return {
        "TimeGenerated": when,
        "AppId": app.app_id,
        "AppName": app.display_name,
        "Audience": audience,
        "Issuer": issuer,
        "TokenTenantId": tid,
        "IdentityProvider": idp,
        "TokenVersion": version,
        "KeyId": kid,
        "X5t": x5t,
        "Algorithm": "RS256",
        "TokenId": uti,
        "ObjectId": oid,
        "Subject": oid,
        "Upn": upn,
        "ClientAppId": client_app_id,
        "IssuedAt": issued_at,
        "NotBefore": not_before or issued_at,
        "ExpiresAt": expires,
        "ClientIp": ip,
        "UserAgent": user_agent,
        "Outcome": outcome,
        "FailureReason": failure_reason,
        "Claims": claims,
    }


EXCHANGE_ONLINE = 20893
"""Defender for Cloud Apps' ApplicationId of Microsoft Exchange Online in CloudAppEvents."""


def cloud_app_mail_row(
    rng: random.Random, *, when: datetime, tenant_id: str, user: DemoUser, mailbox_upn: str, app_id: str,
    client_app_id: str, ip: str, country: str, client_info: str, uti: str, issued_at: datetime,
    session: str | None = None, isp: str = HOME_ISP,
) -> dict[str, object]:
    """A MailItemsAccessed record as Defender XDR's CloudAppEvents holds it: Defender for Cloud Apps' columns, and
    Exchange's own unified audit record in RawEventData, whose AppAccessContext carries the token's uti and the
    sign-in session's id, AADSessionId (Office 365 Management Activity API schema, complex type AppAccessContext;
    RecordType 50 is ExchangeItemAggregated). UniqueTokenId "gets set if the AAD token is available for the
    request": an empty ``uti`` leaves it out. Without ``session`` the record gets a session of its own."""
    record_id = rng_uuid(rng)
    own_session = rng_uuid(rng)
    token = {"UniqueTokenId": uti} if uti else {}
    return {
        "TimeGenerated": when,
        "Application": "Microsoft Exchange Online",
        "ApplicationId": EXCHANGE_ONLINE,
        "ActionType": "MailItemsAccessed",
        "ActivityType": "Basic",
        "AccountObjectId": user.object_id,
        "AccountId": user.object_id,
        "AccountDisplayName": user.display_name,
        "AccountType": "Regular",
        "IsAdminOperation": False,
        "IsExternalUser": False,
        "IsImpersonated": False,
        "IPAddress": ip,
        "CountryCode": country,
        "ISP": isp,
        "UserAgent": client_info,
        "ObjectType": "Email",
        "ReportId": record_id,
        "RawEventData": {
            "CreationTime": when.strftime("%Y-%m-%dT%H:%M:%S"),
            "Id": record_id,
            "Operation": "MailItemsAccessed",
            "OrganizationId": tenant_id,
            "RecordType": 50,
            "ResultStatus": "Succeeded",
            "UserKey": user.object_id,
            "UserType": 0,
            "Version": 1,
            "Workload": "Exchange",
            "UserId": user.upn,
            "AppId": app_id,
            "ClientAppId": client_app_id,
            "ClientIPAddress": ip,
            "ClientInfoString": client_info,
            "ExternalAccess": False,
            "LogonType": 0,
            "MailboxOwnerUPN": mailbox_upn,
            "OperationCount": 1,
            "OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"},
                                    {"Name": "IsThrottled", "Value": "False"}],
            "AppAccessContext": {
                "AADSessionId": session or own_session,
                "ClientAppId": client_app_id,
                "CorrelationId": rng_uuid(rng),
                "IssuedAtTime": issued_at.strftime("%Y-%m-%dT%H:%M:%S"),
                **token,
            },
        },
    }
