"""The spellings one signing key takes in logs: base64url kid/x5t, standard base64, and hex thumbprints.

Entra's ``kid`` and ``x5t`` are the base64url SHA-1 thumbprint of the signing
certificate, but apps log whatever their library hands them: sometimes the
header value, sometimes the thumbprint in hex, in either case, sometimes in
standard base64 with padding. A compromised key must match in all of them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

__all__ = ["KeyForms", "key_forms"]

_HEX = re.compile(r"^[0-9a-fA-F]+$")


@dataclass(frozen=True, kw_only=True)
class KeyForms:
    """``exact`` values compare case-sensitively (base64); ``thumbprints`` are lower-case hex."""

    exact: frozenset[str]
    thumbprints: frozenset[str]


def _b64_forms(raw: bytes) -> set[str]:
    url = base64.urlsafe_b64encode(raw).decode("ascii")
    std = base64.b64encode(raw).decode("ascii")
    return {url, url.rstrip("="), std, std.rstrip("=")}


def _decode_b64(value: str) -> bytes | None:
    padded = value + "=" * (-len(value) % 4)
    for decoder in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            return decoder(padded.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
    return None


def key_forms(value: str) -> KeyForms:
    """Every spelling of *value*, which may be a hex thumbprint or a base64/base64url kid.

    A value that is neither (some issuers use opaque key ids) is kept as an
    exact match only, so operators can still list it.
    """
    text = value.strip()
    if not text:
        raise ValueError("empty key id")
    if _HEX.match(text) and len(text) in (40, 64):
        raw = bytes.fromhex(text)
        return KeyForms(exact=frozenset(_b64_forms(raw)), thumbprints=frozenset({text.lower()}))
    raw_or_none = _decode_b64(text)
    if raw_or_none is not None and len(raw_or_none) in (20, 32):
        return KeyForms(
            exact=frozenset(_b64_forms(raw_or_none) | {text}),
            thumbprints=frozenset({raw_or_none.hex()}),
        )
    return KeyForms(exact=frozenset({text}), thumbprints=frozenset())
