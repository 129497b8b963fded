"""Guardrails every response step passes: the mode, protected principals, and the blast radius.

An unattended responder that mass-disables a tenant is the worst failure this
project can have, so the checks are here in one place, run before any intent
is written, and each refusal carries a reason the case and the incident repeat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, cast

from shared.errors import ConfigurationError
from shared.settings import Settings

__all__ = ["BlastRadius", "Guardrails", "ResponseMode"]

ResponseMode = Literal["dry-run", "approval", "auto"]


@dataclass(frozen=True, kw_only=True)
class Guardrails:
    mode: ResponseMode
    protected: frozenset[str]
    """Lower-cased object ids and UPNs that no step may touch."""
    per_run: int
    per_hour: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Guardrails:
        return cls(mode=cast(ResponseMode, settings.response_mode),
                   protected=frozenset(p.lower() for p in settings.protected_principals),
                   per_run=settings.blast_radius_per_run, per_hour=settings.blast_radius_per_hour)

    def narrowed(self, mode: str) -> Guardrails:
        """These guardrails in *mode* if it is stricter than the configured one; a caller can never widen them."""
        order = ("dry-run", "approval", "auto")
        if mode not in order:
            raise ConfigurationError(f"response mode {mode!r} is not one of {', '.join(order)}")
        stricter = min(self.mode, mode, key=order.index)
        return replace(self, mode=cast(ResponseMode, stricter))

    def protected_reason(self, identifiers: Iterable[str | None]) -> str | None:
        """Why a principal known by *identifiers* (object id, UPNs) may not be actioned, or None."""
        hits = sorted({i.lower() for i in identifiers if i} & self.protected)
        if hits:
            return f"protected principal ({', '.join(hits)}) is listed in PROTECTED_PRINCIPALS and is never actioned"
        return None


@dataclass
class BlastRadius:
    """Counts the principals a run acts on, against the per-run and the rolling per-hour limits."""

    guardrails: Guardrails
    actioned_this_hour: set[str]
    """Cases that had an action in the last hour, from the Actions table, before this run started."""
    admitted: set[str] = field(default_factory=set)

    def admit(self, case_id: str) -> str | None:
        """None if *case_id* may be actioned now (and count it), else the reason it must wait for approval."""
        if case_id in self.admitted or case_id in self.actioned_this_hour:
            self.admitted.add(case_id)
            return None
        if len(self.admitted) >= self.guardrails.per_run:
            return (f"blast-radius limit: this run already acted on {len(self.admitted)} principals "
                    f"(BLAST_RADIUS_PER_RUN={self.guardrails.per_run}); waiting for approval")
        if len(self.actioned_this_hour | self.admitted) >= self.guardrails.per_hour:
            return (f"blast-radius limit: {len(self.actioned_this_hour | self.admitted)} principals were acted on in "
                    f"the last hour (BLAST_RADIUS_PER_HOUR={self.guardrails.per_hour}); waiting for approval")
        self.admitted.add(case_id)
        return None
