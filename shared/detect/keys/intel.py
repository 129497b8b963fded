"""Key intelligence for one hunt: the published keys, the compromised list, and how complete they are."""

from __future__ import annotations

from dataclasses import dataclass

from shared.detect.keys.compromised import CompromisedKey, CompromisedKeyList
from shared.detect.keys.jwks import PublishedKey

__all__ = ["ENTRA_ISSUER_TEMPLATES", "KeyIntelligence", "KeyVerdict"]

ENTRA_ISSUER_TEMPLATES = ("https://sts.windows.net/{tenantid}/", "https://login.microsoftonline.com/{tenantid}/v2.0")
"""The v1 and v2.0 Entra issuers, as the key documents spell them (access-tokens doc, "Validate the issuer")."""


@dataclass(frozen=True, kw_only=True)
class KeyVerdict:
    """What Tokenwarden knows about one key id, for enrichment and the token analyzer."""

    key_id: str
    published_by: tuple[PublishedKey, ...]
    compromised: CompromisedKey | None


@dataclass(frozen=True, kw_only=True)
class KeyIntelligence:
    published: tuple[PublishedKey, ...]
    compromised: CompromisedKeyList
    failures: tuple[str, ...] = ()

    @property
    def published_complete(self) -> bool:
        """False when an issuer could not be read: then 'unpublished' cannot be judged."""
        return not self.failures and bool(self.published)

    def published_kids(self) -> list[str]:
        values = {key.kid for key in self.published} | {key.x5t for key in self.published if key.x5t}
        return sorted(values)

    def published_keys(self) -> list[str]:
        """``<issuer>|<key id>`` for each key and the issuer that publishes it, so a key counts only there.

        The issuer is the key's own (``{tenantid}`` templates kept as published); a key set without
        issuers (the v1 ``/common/discovery/keys``) publishes for both Entra issuer templates; an
        app-specific key is ``appid=<appId>|<key id>``. A rule matches a token's issuer with its
        ``tid`` replaced by ``{tenantid}``, and its app by ``appid=``.
        """
        pairs: set[str] = set()
        for key in self.published:
            if key.app_id is not None:
                owners = [f"appid={key.app_id}"]
            elif key.issuer:
                owners = [key.issuer]
            else:
                owners = list(ENTRA_ISSUER_TEMPLATES)
            for owner in owners:
                pairs.update(f"{owner}|{value}" for value in (key.kid, key.x5t) if value)
        return sorted(pairs)

    def verdict(self, key_id: str) -> KeyVerdict:
        published = tuple(key for key in self.published if key_id in (key.kid, key.x5t))
        return KeyVerdict(key_id=key_id, published_by=published, compromised=self.compromised.find(key_id))
