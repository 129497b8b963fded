"""A generated tenant: users, resource apps, client apps and signing keys, all derived from one seed.

The same tenant seeds the sample logs and (later) the local Graph simulator, so
every user and app the logs mention resolves.
"""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "CONSUMER_TENANT_ID",
    "DemoApp",
    "DemoKey",
    "DemoTenant",
    "DemoUser",
    "generate_tenant",
    "rng_uuid",
]

CONSUMER_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"

_FIRST = ["Ada", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hugo", "Ines", "Jon", "Kira", "Liam",
          "Mona", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Uma", "Vik", "Wen", "Yusuf"]
_LAST = ["Adams", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova", "Jensen",
         "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka", "Weber"]
_DEPARTMENTS = ["Finance", "Engineering", "Sales", "Legal", "Operations", "Executive", "IT"]


def rng_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


@dataclass(frozen=True, kw_only=True)
class DemoUser:
    object_id: str
    upn: str
    display_name: str
    department: str
    job_title: str
    ip_addresses: tuple[str, ...]
    privileged: bool


@dataclass(frozen=True, kw_only=True)
class DemoApp:
    app_id: str
    display_name: str
    sign_in_audience: str
    identifier_uri: str | None
    validates_tokens: bool
    """Whether the app writes TokenValidation_CL rows (it is one of the customer's APIs)."""


@dataclass(frozen=True, kw_only=True)
class DemoKey:
    kid: str
    x5c: str
    issuer: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True, kw_only=True)
class DemoTenant:
    tenant_id: str
    domain: str
    users: tuple[DemoUser, ...]
    resource_apps: tuple[DemoApp, ...]
    service_principal_apps: tuple[DemoApp, ...]
    managed_identities: tuple[DemoApp, ...]
    tenant_keys: tuple[DemoKey, ...]
    consumer_keys: tuple[DemoKey, ...]
    retired_key: DemoKey
    """A key the issuer rotated out; a stale app cache still accepts it."""


def _make_key(rng: random.Random, issuer: str, not_before: datetime) -> DemoKey:
    """A real self-signed certificate, so x5c parses and kid is its thumbprint as Entra computes it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.x509.oid import NameOID

    # Ed25519: the key comes from the seed and its signatures are deterministic, so one seed gives one kid.
    private_key = ed25519.Ed25519PrivateKey.from_private_bytes(rng.getrandbits(256).to_bytes(32, "big"))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(rng.getrandbits(63) | 1)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=5 * 365))
        .sign(private_key, None)
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode("ascii").rstrip("=")  # noqa: S324 - x5t is SHA-1 by spec
    return DemoKey(kid=kid, x5c=base64.b64encode(der).decode("ascii"), issuer=issuer,
                   not_before=not_before, not_after=not_before + timedelta(days=5 * 365))


def generate_tenant(*, users: int, seed: int) -> DemoTenant:
    rng = random.Random(seed)
    tenant_id = rng_uuid(rng)
    domain = "contoso.example"
    people: list[DemoUser] = []
    taken: set[str] = set()
    for index in range(users):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        alias = f"{first}.{last}".lower()
        if alias in taken:
            alias = f"{alias}{index}"
        taken.add(alias)
        department = rng.choice(_DEPARTMENTS)
        privileged = index < max(1, users // 25)
        people.append(DemoUser(
            object_id=rng_uuid(rng),
            upn=f"{alias}@{domain}",
            display_name=f"{first} {last}",
            department="IT" if privileged else department,
            job_title="Global administrator" if privileged else f"{department} specialist",
            ip_addresses=tuple(f"203.0.{rng.randint(1, 254)}.{rng.randint(1, 254)}" for _ in range(2)),
            privileged=privileged,
        ))
    resource_apps = (
        DemoApp(app_id=rng_uuid(rng), display_name="Contoso Payroll API", sign_in_audience="AzureADMyOrg",
                identifier_uri="api://contoso-payroll", validates_tokens=True),
        DemoApp(app_id=rng_uuid(rng), display_name="Contoso Partner Portal API",
                sign_in_audience="AzureADMultipleOrgs", identifier_uri="api://contoso-partners",
                validates_tokens=True),
        DemoApp(app_id=rng_uuid(rng), display_name="Contoso Community API",
                sign_in_audience="AzureADandPersonalMicrosoftAccount", identifier_uri="api://contoso-community",
                validates_tokens=True),
        DemoApp(app_id=EXCHANGE_APP_ID, display_name="Office 365 Exchange Online",
                sign_in_audience="AzureADMultipleOrgs", identifier_uri="https://outlook.office365.com",
                validates_tokens=False),
        DemoApp(app_id=GRAPH_APP_ID, display_name="Microsoft Graph", sign_in_audience="AzureADMultipleOrgs",
                identifier_uri="https://graph.microsoft.com", validates_tokens=False),
    )
    service_principals = (
        DemoApp(app_id=rng_uuid(rng), display_name="Contoso HR Sync", sign_in_audience="AzureADMyOrg",
                identifier_uri=None, validates_tokens=False),
        DemoApp(app_id=rng_uuid(rng), display_name="Contoso Backup Agent", sign_in_audience="AzureADMyOrg",
                identifier_uri=None, validates_tokens=False),
    )
    managed = (
        DemoApp(app_id=rng_uuid(rng), display_name="func-contoso-reports", sign_in_audience="AzureADMyOrg",
                identifier_uri=None, validates_tokens=False),
    )
    v2_issuer = "https://login.microsoftonline.com/{tenantid}/v2.0"
    consumer_issuer = f"https://login.microsoftonline.com/{CONSUMER_TENANT_ID}/v2.0"
    epoch = datetime(2025, 6, 1, tzinfo=UTC)
    tenant_keys = tuple(_make_key(rng, v2_issuer, epoch + timedelta(days=30 * i)) for i in range(2))
    consumer_keys = (_make_key(rng, consumer_issuer, epoch),)
    retired = _make_key(rng, v2_issuer, epoch - timedelta(days=400))
    return DemoTenant(
        tenant_id=tenant_id, domain=domain, users=tuple(people), resource_apps=resource_apps,
        service_principal_apps=service_principals, managed_identities=managed, tenant_keys=tenant_keys,
        consumer_keys=consumer_keys, retired_key=retired,
    )
