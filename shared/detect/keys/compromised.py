"""The shipped list of compromised signing keys, plus the keys operators add.

Shipped as data with its sources so an analyst can see why a key is on it; the
rules receive it as parameter values, never as query text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from shared.core.errors import ConfigurationError, DataError
from shared.detect.keys.forms import key_forms

__all__ = ["CompromisedKey", "CompromisedKeyList", "load_compromised_keys"]


@dataclass(frozen=True, kw_only=True)
class CompromisedKey:
    name: str
    kid: str
    thumbprint: str | None
    sources: tuple[str, ...]
    not_before: str | None = None
    not_after: str | None = None


@dataclass(frozen=True, kw_only=True)
class CompromisedKeyList:
    keys: tuple[CompromisedKey, ...]

    def parameter_values(self) -> dict[str, list[str]]:
        """``compromised_kids`` and ``compromised_thumbprints`` as the rules declare them."""
        exact: set[str] = set()
        thumbprints: set[str] = set()
        for key in self.keys:
            for value in filter(None, (key.kid, key.thumbprint)):
                forms = key_forms(value)
                exact |= forms.exact
                thumbprints |= forms.thumbprints
        return {"compromised_kids": sorted(exact), "compromised_thumbprints": sorted(thumbprints)}

    def find(self, key_id: str) -> CompromisedKey | None:
        """The compromised key *key_id* spells, in any of its forms."""
        try:
            wanted = key_forms(key_id)
        except ValueError:
            return None
        for key in self.keys:
            forms = [key_forms(v) for v in filter(None, (key.kid, key.thumbprint))]
            if any(wanted.exact & f.exact or wanted.thumbprints & f.thumbprints for f in forms):
                return key
        return None


def load_compromised_keys(extra: Iterable[str] = ()) -> CompromisedKeyList:
    """The shipped list plus *extra* key ids or thumbprints (from EXTRA_COMPROMISED_KEYS)."""
    text = resources.files("shared").joinpath("data/compromised_keys.json").read_text(encoding="utf-8")
    try:
        document = json.loads(text)
        keys = [
            CompromisedKey(
                name=entry["name"],
                kid=entry["kid"],
                thumbprint=entry.get("thumbprint"),
                sources=tuple(entry["sources"]),
                not_before=entry.get("not_before"),
                not_after=entry.get("not_after"),
            )
            for entry in document["keys"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"shipped compromised-key list is malformed: {exc}") from None
    for value in extra:
        try:
            key_forms(value)
        except ValueError:
            raise ConfigurationError(f"compromised key {value!r} is not a key id or thumbprint") from None
        keys.append(CompromisedKey(name="operator-listed key", kid=value, thumbprint=None,
                                   sources=("EXTRA_COMPROMISED_KEYS",)))
    return CompromisedKeyList(keys=tuple(keys))
