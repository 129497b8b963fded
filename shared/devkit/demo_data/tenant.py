"""A generated tenant: users, resource apps, client apps and signing keys, all derived from one seed.

The same tenant seeds the sample logs and (later) the local Graph simulator, so
every user and app the logs mention resolves.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
    """A demo signing key as Entra publishes one: RSA 2048 in a self-signed certificate, ``kid`` = ``x5t`` = the
    certificate's SHA-1 thumbprint (base64url), and the private half kept so the demo can sign tokens (RS256)."""

    kid: str
    x5c: str
    issuer: str
    not_before: datetime
    not_after: datetime
    private_pem: bytes = field(repr=False, default=b"")
    """PKCS#8 PEM of the private key; demo material only, never a real secret."""

    def public_jwk(self) -> dict[str, object]:
        """The JWKS entry (``kty, use, kid, x5t, n, e, x5c, issuer``), the fields Entra's keys documents carry."""
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(self.private_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        numbers = key.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": _b64url_int(numbers.n),
                "e": _b64url_int(numbers.e), "x5c": [self.x5c], "issuer": self.issuer}

    def sign(self, claims: Mapping[str, object]) -> str:
        """A compact JWS of *claims*, signed RS256 with ``kid`` and ``x5t`` in the header as Entra's v1 tokens."""
        import jwt

        return jwt.encode(dict(claims), self.private_pem, algorithm="RS256", headers={"kid": self.kid, "x5t": self.kid})


def _b64url_int(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).decode("ascii").rstrip("=")


_SMALL_PRIMES = tuple(p for p in range(3, 10_000, 2) if all(p % d for d in range(3, int(p ** 0.5) + 1, 2)))
_PRIME_ROUNDS = 5
"""Miller-Rabin rounds for a 1024-bit prime of an RSA 2048 key (NIST FIPS 186-4, table C.2); demo keys only."""


def _probable_prime(rng: random.Random, bits: int) -> int:
    """A *bits*-bit prime drawn from *rng* (Miller-Rabin), so one seed always gives the same key.

    ``cryptography`` generates RSA keys from the OS's randomness only; the demo needs a key per seed, as it had with
    Ed25519 (whose key is its seed), so that the kids the logs carry match the JWKS of the same seed.
    """
    while True:
        candidate = rng.getrandbits(bits) | (3 << (bits - 2)) | 1  # top two bits: p*q has exactly 2*bits bits
        if any(candidate % p == 0 for p in _SMALL_PRIMES):
            continue
        d, r = candidate - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(_PRIME_ROUNDS):
            x = pow(rng.randrange(2, candidate - 1), d, candidate)
            if x in (1, candidate - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, candidate)
                if x == candidate - 1:
                    break
            else:
                break
        else:
            return candidate


@functools.cache
def _rsa_key(seed: int, bits: int = 2048) -> Any:
    """The RSA key of *seed*; cached, because finding its primes in Python takes a few seconds and every demo
    tenant of one seed (tests build several) has the same keys."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    rng = random.Random(seed)
    e = 65537
    while True:
        p, q = _probable_prime(rng, bits // 2), _probable_prime(rng, bits // 2)
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(e, phi) == 1:
            break
    d = pow(e, -1, phi)
    numbers = rsa.RSAPrivateNumbers(p=p, q=q, d=d, dmp1=rsa.rsa_crt_dmp1(d, p), dmq1=rsa.rsa_crt_dmq1(d, q),
                                    iqmp=rsa.rsa_crt_iqmp(p, q), public_numbers=rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


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
    """A real self-signed certificate, so x5c parses and kid is its thumbprint as Entra computes it.

    RSA 2048 signed with SHA-256, as Entra's signing certificates; the key and the certificate come from the seed
    (the key from :func:`_probable_prime`; RSA PKCS#1 v1.5 signatures are deterministic), so one seed gives one kid.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    private_key = _rsa_key(rng.getrandbits(64))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.accesscontrol.windows.net")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(rng.getrandbits(63) | 1)
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=5 * 365))
        .sign(private_key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    kid = base64.urlsafe_b64encode(hashlib.sha1(der).digest()).decode("ascii").rstrip("=")  # noqa: S324 - x5t is SHA-1 by spec
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    return DemoKey(kid=kid, x5c=base64.b64encode(der).decode("ascii"), issuer=issuer,
                   not_before=not_before, not_after=not_before + timedelta(days=5 * 365), private_pem=pem)


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
