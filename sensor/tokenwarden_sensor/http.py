"""What every adapter does the same way: find the bearer token, derive the outcome, and build the refusal."""

from __future__ import annotations

import json
from collections.abc import Callable

from tokenwarden_sensor.sensor import Verdict
from tokenwarden_sensor.token import Outcome

__all__ = ["DEFAULT_WEBHOOK_PATH", "RefusalHook", "bearer_token", "default_refusal", "outcome_of_status"]

DEFAULT_WEBHOOK_PATH = "/.tokenwarden/untrusted-keys"

RefusalHook = Callable[[Verdict], tuple[int, dict[str, str], bytes]]
"""The app's choice of how a refused token is answered: (status, headers, body)."""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value (RFC 6750 section 2.1), else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def outcome_of_status(status: int) -> tuple[Outcome, str | None]:
    """The outcome an app reached, read from its answer: 401 means it rejected the token (RFC 6750 section 3.1,
    ``invalid_token``); anything else means the token got past validation (403 is a valid token lacking rights)."""
    if status == 401:
        return "Rejected", "the app answered 401"
    return "Accepted", None


def default_refusal(verdict: Verdict) -> tuple[int, dict[str, str], bytes]:
    """401 with ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 section 3)."""
    description = (verdict.reason or "token refused").replace('"', "'")
    return 401, {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"',
                 "Content-Type": "application/json"}, json.dumps({"error": "invalid_token"}).encode("utf-8")
