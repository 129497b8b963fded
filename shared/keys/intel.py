"""Key intelligence for one hunt: the published keys, the compromised list, and how complete they are."""

from __future__ import annotations

from dataclasses import dataclass

from shared.keys.compromised import CompromisedKey, CompromisedKeyList
from shared.keys.jwks import PublishedKey

__all__ = ["KeyIntelligence", "KeyVerdict"]


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

    def verdict(self, key_id: str) -> KeyVerdict:
        published = tuple(key for key in self.published if key_id in (key.kid, key.x5t))
        return KeyVerdict(key_id=key_id, published_by=published, compromised=self.compromised.find(key_id))
