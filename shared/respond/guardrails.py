"""Guardrails every response step passes: the mode, protected principals, and the blast radius.

An unattended responder that mass-disables a tenant is the worst failure this
project can have, so the checks are here in one place, run before any intent
is written, and each refusal carries a reason the case and the incident repeat.

Protection fails closed. ``PROTECTED_PRINCIPALS`` may name a user by object id or UPN, or a group as
``group:<object id>`` (its members, direct or not, are protected). A user is matched on every name the
case, its enrichment and the ledger's UPN aliases know; when its object id, its UPN or (with groups
listed) its group memberships could not be resolved, because Graph or the ledger did not answer, whether
it is protected cannot be decided, and it is treated as protected until it can be.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, cast

from shared.core.errors import ConfigurationError
from shared.core.settings import Settings

__all__ = ["GROUP_PREFIX", "UNDECIDED", "BlastRadius", "Guardrails", "KnownPrincipal", "ResponseMode"]

ResponseMode = Literal["dry-run", "approval", "auto"]
GROUP_PREFIX = "group:"
UNDECIDED = "protection undecided"
"""How a hold for a user whose protection could not be decided begins: such a case keeps its outbox mark."""


@dataclass(frozen=True, kw_only=True)
class KnownPrincipal:
    """What is known of a case's user: every name it goes by, and what could be resolved."""

    names: frozenset[str]
    """Lower-cased object ids and UPNs: the case's, its enrichment's and the ledger's aliases."""
    object_id: str | None
    upn: str | None
    group_ids: frozenset[str] | None
    """Lower-cased ids of the groups the user is in; None when they could not be read."""
    is_user: bool = True
    """False for an app or a token: protection is about users, and there is nothing to resolve."""
    problems: tuple[str, ...] = ()
    """Why something could not be resolved (a failed Graph lookup, an unreadable ledger)."""


@dataclass(frozen=True, kw_only=True)
class Guardrails:
    mode: ResponseMode
    protected: frozenset[str]
    """Lower-cased object ids and UPNs that no step may touch."""
    per_run: int
    per_hour: int
    protected_groups: frozenset[str] = frozenset()
    """Lower-cased object ids of groups whose members no step may touch."""

    @classmethod
    def from_settings(cls, settings: Settings) -> Guardrails:
        names = [p.strip().lower() for p in settings.protected_principals if p.strip()]
        return cls(mode=cast(ResponseMode, settings.response_mode),
                   protected=frozenset(n for n in names if not n.startswith(GROUP_PREFIX)),
                   protected_groups=frozenset(n.removeprefix(GROUP_PREFIX) for n in names
                                              if n.startswith(GROUP_PREFIX)),
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

    def protection(self, known: KnownPrincipal) -> str | None:
        """Why the principal may not be actioned: it is protected, or whether it is cannot be decided; else None."""
        listed = self.protected_reason(known.names)
        if listed:
            return listed
        groups = sorted((known.group_ids or frozenset()) & self.protected_groups)
        if groups:
            return (f"protected principal: member of group {', '.join(groups)}, listed in PROTECTED_PRINCIPALS; "
                    "never actioned")
        if not known.is_user or not (self.protected or self.protected_groups):
            return None
        missing = [what for what, value in (("object id", known.object_id), ("UPN", known.upn)) if not value]
        if self.protected_groups and known.group_ids is None:
            missing.append("group memberships")
        if not missing:
            return None
        why = "; ".join(known.problems) or "no lookup named them"
        return (f"{UNDECIDED}: the user's {' and '.join(missing)} could not be resolved ({why}); "
                "treated as protected, the case waits until Graph and the ledger answer")


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
