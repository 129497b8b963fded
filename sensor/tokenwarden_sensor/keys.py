"""Signing-key ids in every spelling, the shipped compromised-key list, and the live untrusted-key set.

Entra's ``kid`` and ``x5t`` are the base64url SHA-1 thumbprint of the signing certificate, but lists spell a
key as that, as standard base64, or as a hex thumbprint; a key must match in all of them. This mirrors the
forms Tokenwarden itself matches (``shared/detect/keys/forms.py``); the sensor ships its own copy of the compromised
list (``data/compromised_keys.json``, held equal to Tokenwarden's by a test) so it imports nothing of the
Function App.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

__all__ = ["KeyForms", "KeySet", "compromised_key_ids", "key_forms"]

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
    """Every spelling of *value* (a hex thumbprint, a base64/base64url kid, or an opaque id kept as given)."""
    text = value.strip()
    if not text:
        raise ValueError("empty key id")
    if _HEX.match(text) and len(text) in (40, 64):
        raw = bytes.fromhex(text)
        return KeyForms(exact=frozenset(_b64_forms(raw)), thumbprints=frozenset({text.lower()}))
    raw_or_none = _decode_b64(text)
    if raw_or_none is not None and len(raw_or_none) in (20, 32):
        return KeyForms(exact=frozenset(_b64_forms(raw_or_none) | {text}), thumbprints=frozenset({raw_or_none.hex()}))
    return KeyForms(exact=frozenset({text}), thumbprints=frozenset())


def compromised_key_ids() -> tuple[str, ...]:
    """The kids and thumbprints of the shipped compromised-key list."""
    text = resources.files("tokenwarden_sensor").joinpath("data/compromised_keys.json").read_text(encoding="utf-8")
    document = json.loads(text)
    return tuple(v for entry in document["keys"] for v in (entry.get("kid"), entry.get("thumbprint")) if v)


class KeySet:
    """A thread-safe set of signing keys, matched in any spelling; read on every request, so lookups are cheap."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._exact: frozenset[str] = frozenset()
        self._thumbprints: frozenset[str] = frozenset()
        self._ids: frozenset[str] = frozenset()
        self.version = 0
        """Bumped on every change, so callers may cache what they derived from the set."""
        self.add(values)

    def add(self, values: Iterable[str]) -> list[str]:
        """Add *values* (unusable ones are ignored); returns the ids that were new."""
        added: list[str] = []
        exact: set[str] = set()
        thumbprints: set[str] = set()
        for value in values:
            if not isinstance(value, str):
                continue
            try:
                forms = key_forms(value)
            except ValueError:
                continue
            exact |= forms.exact
            thumbprints |= forms.thumbprints
            added.append(value.strip())
        with self._lock:
            new = [v for v in dict.fromkeys(added) if v not in self._ids]
            self._exact |= exact
            self._thumbprints |= thumbprints
            self._ids |= set(added)
            if new:
                self.version += 1
        return new

    def replace(self, values: Iterable[str]) -> None:
        """Hold exactly *values* from now on."""
        fresh = KeySet(values)
        with self._lock:
            self._exact, self._thumbprints, self._ids = fresh._exact, fresh._thumbprints, fresh._ids
            self.version += 1

    def matches(self, *key_ids: str | None) -> str | None:
        """The first of *key_ids* (kid, x5t) that names a key in the set, or None."""
        exact, thumbprints = self._exact, self._thumbprints  # one consistent snapshot, no lock on the hot path
        for key_id in key_ids:
            if not key_id:
                continue
            # Every base64 spelling of a listed key is in ``exact``; a hex thumbprint matches in any case.
            if key_id in exact or key_id.lower() in thumbprints:
                return key_id
        return None

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> frozenset[str]:
        return self._ids
