"""Caller text made safe: signed JWTs lose their signature, bearer tokens vanish, and no text makes a second line."""

from __future__ import annotations

import logging

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.core.safetext import SIGNATURE_REMOVED, caller_text, install_log_scrubber, one_line, scrub_secrets

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
TOKEN = jwt.encode({"aud": "api://x", "uti": "abc"}, KEY, algorithm="RS256", headers={"kid": "k1"})


def test_a_signed_jwt_keeps_header_and_claims_but_never_its_signature() -> None:
    header, claims, signature = TOKEN.split(".")
    scrubbed = scrub_secrets(f"user pasted {TOKEN} into the reason")
    assert f"{header}.{claims}.{SIGNATURE_REMOVED}" in scrubbed
    assert signature not in scrubbed


@pytest.mark.parametrize("text", ["Authorization: Bearer 0.AXYAs8-opaque_token-value", "bearer abcdefghijklmnopq"])
def test_an_opaque_bearer_token_is_redacted(text: str) -> None:
    secret = text.rsplit(maxsplit=1)[-1]
    assert secret not in scrub_secrets(text) and "[redacted]" in scrub_secrets(text)


def test_ordinary_text_is_left_alone() -> None:
    text = "revoked after the bearer of bad news called; see eyJ in the docs"
    assert scrub_secrets(text) == text


@pytest.mark.parametrize("char", ["\n", "\r", "\x0b", "\x0c", "\x1b", "\x85", "\u2028", "\u2029", "\ud800"])
def test_no_character_can_start_a_new_line(char: str) -> None:
    escaped = one_line(f"first{char}second")
    assert char not in escaped and escaped.startswith("first\\") and escaped.endswith("second")
    assert len(escaped.splitlines()) == 1


def test_caller_text_is_bounded() -> None:
    assert len(caller_text("x" * 5000, limit=100)) == 100


def test_every_tokenwarden_log_record_is_scrubbed_and_one_line(caplog: pytest.LogCaptureFixture) -> None:
    install_log_scrubber()
    caplog.set_level(logging.INFO)
    logging.getLogger("tokenwarden.audit").info("comment %s", f"ok\nforged line {TOKEN}")
    logging.getLogger("elsewhere").info("untouched\nline")
    [ours, theirs] = [r.getMessage() for r in caplog.records]
    assert "\n" not in ours and TOKEN.split(".")[2] not in ours and SIGNATURE_REMOVED in ours
    assert theirs == "untouched\nline"
