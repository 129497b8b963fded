"""Local red flags, each with the token that must raise it and a look-alike that must not."""

from __future__ import annotations

import time

import pytest

from sensor_support import NOW, STORM_KID, TENANT, token
from tokenwarden_sensor.flags import CONSUMER_TENANT_ID, red_flags
from tokenwarden_sensor.keys import KeySet, compromised_key_ids
from tokenwarden_sensor.token import read_token


def _rules(text: str, *, organizations_only: bool = True) -> list[str]:
    facts = read_token(text)
    assert facts is not None
    return [f.rule for f in red_flags(facts, compromised=KeySet(compromised_key_ids()),
                                      organizations_only=organizations_only, now=time.time())]


def test_an_ordinary_token_raises_nothing() -> None:
    assert _rules(token()) == []


def test_the_storm_0558_key_is_compromised_in_any_spelling() -> None:
    assert _rules(token(kid=STORM_KID)) == ["compromised-signing-key"]
    assert _rules(token(kid="d4b4cccda9228624656bff33d8110955779632aa")) == ["compromised-signing-key"]


@pytest.mark.parametrize("organizations_only", [True, False])
def test_consumer_token_to_org_only_app_fires(organizations_only: bool) -> None:
    text = token(tid=CONSUMER_TENANT_ID, iss=f"https://login.microsoftonline.com/{CONSUMER_TENANT_ID}/v2.0")
    assert ("consumer-key-for-org-app" in _rules(text, organizations_only=organizations_only)) is organizations_only


@pytest.mark.parametrize(("issuer", "fires"), [
    ("https://login.microsoftonline.com/37cfbc3f-0e1a-4be8-a519-ac53aca9cee4/v2.0", True),
    ("https://login.microsoftonline.com/common/v2.0", True),
    (f"https://sts.windows.net/{TENANT}/", False),
    ("https://issuer.example/", False),
])
def test_issuer_and_tid_mismatch(issuer: str, fires: bool) -> None:
    assert ("issuer-tenant-mismatch" in _rules(token(iss=issuer))) is fires


@pytest.mark.parametrize(("lifetime_hours", "fires"), [(1, False), (28, False), (29, True), (2160, True)])
def test_implausible_lifetime(lifetime_hours: int, fires: bool) -> None:
    now = NOW
    text = token(iat=now - 60, nbf=now - 60, exp=now - 60 + lifetime_hours * 3600)
    assert ("implausible-token-lifetime" in _rules(text)) is fires


def test_issued_in_the_future_and_nbf_after_exp_fire() -> None:
    now = NOW
    assert "implausible-token-lifetime" in _rules(token(iat=now + 3600, nbf=now + 3600, exp=now + 7200))
    assert "implausible-token-lifetime" in _rules(token(iat=now, nbf=now + 7200, exp=now + 3600))
