"""Parsing of JWKS documents (``{"keys": [...]}``) into the key facts Tokenwarden keeps.

Only public metadata is kept (kid, x5t, issuer and the certificate's validity);
the key material itself is not needed to decide whether a key is published.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.core.errors import DataError

__all__ = ["PublishedKey", "parse_jwks", "read_jwks_file"]


@dataclass(frozen=True, kw_only=True)
class PublishedKey:
    kid: str
    x5t: str | None
    issuer: str | None
    not_before: datetime | None
    not_after: datetime | None
    source: str
    app_id: str | None = None
    """For an app-specific key set (``…/discovery/v2.0/keys?appid=<appId>``): the app whose tokens it signs."""


def _certificate_dates(x5c: object, where: str) -> tuple[datetime | None, datetime | None]:
    if not isinstance(x5c, list) or not x5c:
        return None, None
    from cryptography import x509

    first = x5c[0]
    if not isinstance(first, str):
        raise DataError("x5c[0] is not a base64 string", location=where)
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(first, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise DataError(f"x5c[0] is not a DER certificate: {exc}", location=where) from None
    return (
        certificate.not_valid_before_utc.astimezone(UTC),
        certificate.not_valid_after_utc.astimezone(UTC),
    )


def parse_jwks(document: object, *, source: str, app_id: str | None = None) -> tuple[PublishedKey, ...]:
    """Keys of one JWKS document; *source* (a file or URL) names it in every error.

    ``app_id`` marks an app-specific key set: apps with claims mapping have their tokens signed by
    keys published only at ``…/discovery/v2.0/keys?appid=<appId>`` (Microsoft identity platform,
    "Signing key rollover": MicrosoftDocs/entra-docs, docs/identity-platform/signing-key-rollover.md).
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise DataError('not a JWKS document: expected {"keys": [...]}', location=source)
    keys: list[PublishedKey] = []
    for index, entry in enumerate(document["keys"]):
        where = f"{source}: keys[{index}]"
        if not isinstance(entry, Mapping):
            raise DataError("key is not an object", location=where)
        kid = entry.get("kid")
        x5t = entry.get("x5t")
        if not isinstance(kid, str) or not kid:
            if isinstance(x5t, str) and x5t:
                kid = x5t
            else:
                raise DataError("key has neither kid nor x5t", location=where)
        issuer = entry.get("issuer")
        not_before, not_after = _certificate_dates(entry.get("x5c"), where)
        keys.append(
            PublishedKey(
                kid=kid,
                x5t=x5t if isinstance(x5t, str) and x5t else None,
                issuer=issuer if isinstance(issuer, str) else None,
                not_before=not_before,
                not_after=not_after,
                source=source,
                app_id=app_id,
            )
        )
    return tuple(keys)


def read_jwks_file(path: Path, *, app_id: str | None = None) -> tuple[PublishedKey, ...]:
    from shared.core.jsonfile import read_json_file

    return parse_jwks(read_json_file(path, "JWKS file"), source=str(path), app_id=app_id)
