"""Key facts for a case: who publishes the key id, its certificate's validity, and whether it is compromised."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from shared.cases.enrich.models import KeyFacts
from shared.core.timeparse import parse_instant
from shared.detect.keys.intel import KeyIntelligence

__all__ = ["lookup_keys"]


def _instant(text: str | None) -> datetime | None:
    return parse_instant(text, assume_utc=True) if text else None


def lookup_keys(intel: KeyIntelligence, key_ids: Collection[str]) -> list[KeyFacts]:
    facts = []
    for key_id in sorted({k for k in key_ids if k}):
        verdict = intel.verdict(key_id)
        published = verdict.published_by
        facts.append(KeyFacts(
            key_id=key_id,
            published_by=tuple(sorted({key.issuer or key.source for key in published})),
            certificate_not_before=min((k.not_before for k in published if k.not_before), default=None)
            or _instant(verdict.compromised.not_before if verdict.compromised else None),
            certificate_not_after=max((k.not_after for k in published if k.not_after), default=None)
            or _instant(verdict.compromised.not_after if verdict.compromised else None),
            compromised=verdict.compromised.name if verdict.compromised else None,
            compromised_sources=verdict.compromised.sources if verdict.compromised else (),
        ))
    return facts
