"""Local red flags: what the sensor can tell about a token at once, without waiting for a scan.

Each check mirrors one of Tokenwarden's rules over ``TokenValidation_CL`` (``shared/rules/<id>/rule.kql``), so
the flag and the later finding agree:

* ``compromised-signing-key``: the kid or x5t is on the shipped compromised list (plus the app's extra keys);
* ``consumer-key-for-org-app``: a consumer (personal Microsoft account) token, tid
  ``9188040d-6c67-4c5b-b112-36a304b66dad``, reached an app configured as organizations-only;
* ``issuer-tenant-mismatch``: an Entra issuer (``https://login.microsoftonline.com/{tid}/v2.0`` or
  ``https://sts.windows.net/{tid}/``, per Microsoft's access-token docs) names another tenant than ``tid``,
  or a token claims to come from Entra without either form;
* ``implausible-token-lifetime``: a lifetime over 28 hours (the longest, for CAE sessions), issued in the
  future beyond the clock skew, or ``nbf`` after ``exp``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tokenwarden_sensor.keys import KeySet
from tokenwarden_sensor.token import TokenFacts

__all__ = ["CONSUMER_TENANT_ID", "RedFlag", "red_flags"]

CONSUMER_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
MAX_LIFETIME_SECONDS = 28 * 3600
CLOCK_SKEW_SECONDS = 5 * 60
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_V2_ISSUER = re.compile(rf"^https://login\.microsoftonline\.com/({_GUID})/v2\.0$")
_V1_ISSUER = re.compile(rf"^https://sts\.windows\.net/({_GUID})/$")
_ENTRA_HOSTS = ("https://login.microsoftonline.com/", "https://sts.windows.net/")


@dataclass(frozen=True, kw_only=True)
class RedFlag:
    rule: str
    """The Tokenwarden rule this flag anticipates."""
    reason: str
    """One line, sent as the anomaly's ``FailureReason``."""


def _issuer_problem(facts: TokenFacts) -> str | None:
    issuer = facts.issuer or ""
    if not issuer.startswith(_ENTRA_HOSTS):
        return None  # not an Entra token: other issuers are the app's business
    match = _V2_ISSUER.match(issuer) or _V1_ISSUER.match(issuer)
    if match is None:
        return f"issuer {issuer[:120]} is not of the Entra v1 or v2 form"
    if not facts.tenant_id:
        return "token carries no tid claim"
    if match.group(1).lower() != facts.tenant_id.lower():
        return f"issuer tenant {match.group(1)} differs from the tid claim {facts.tenant_id}"
    return None


def _lifetime_problem(facts: TokenFacts, now: float) -> str | None:
    if facts.issued_at is not None and facts.expires_at is not None:
        lifetime = facts.expires_at - facts.issued_at
        if lifetime > MAX_LIFETIME_SECONDS:
            return f"lifetime of {lifetime / 3600:.1f} h exceeds {MAX_LIFETIME_SECONDS // 3600} h"
    if facts.issued_at is not None and facts.issued_at > now + CLOCK_SKEW_SECONDS:
        return "issued in the future"
    if facts.not_before is not None and facts.expires_at is not None and facts.not_before > facts.expires_at:
        return "nbf is after exp"
    return None


def red_flags(facts: TokenFacts, *, compromised: KeySet, organizations_only: bool, now: float) -> list[RedFlag]:
    """Every red flag *facts* raises, most severe first."""
    flags: list[RedFlag] = []
    matched = compromised.matches(facts.key_id, facts.x5t)
    if matched is not None:
        flags.append(RedFlag(rule="compromised-signing-key", reason=f"signed with known-compromised key {matched}"))
    if organizations_only and (facts.tenant_id or "").lower() == CONSUMER_TENANT_ID:
        flags.append(RedFlag(rule="consumer-key-for-org-app",
                             reason="personal-account (consumer tenant) token for an organizations-only app"))
    issuer = _issuer_problem(facts)
    if issuer is not None:
        flags.append(RedFlag(rule="issuer-tenant-mismatch", reason=issuer))
    lifetime = _lifetime_problem(facts, now)
    if lifetime is not None:
        flags.append(RedFlag(rule="implausible-token-lifetime", reason=lifetime))
    return flags
