"""Token analysis for ``POST /tokens/analyze``: what a raw access token claims, and which of Microsoft's
validation rules it breaks. Pure: the caller supplies the issuers' keys, nothing is fetched here."""

from shared.detect.tokens.analyze import (
    MAX_TOKEN_CHARS,
    VERDICT_ORDER,
    KeyLookup,
    Reason,
    TokenVerdict,
    VerdictCode,
    analyze_token,
    decode_unverified,
)

__all__ = [
    "MAX_TOKEN_CHARS",
    "VERDICT_ORDER",
    "KeyLookup",
    "Reason",
    "TokenVerdict",
    "VerdictCode",
    "analyze_token",
    "decode_unverified",
]
