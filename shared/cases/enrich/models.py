"""Enrichment results: one typed record per looked-up thing, each saying whether the lookup worked.

A lookup that failed degrades the case instead of failing the scan; the status
and error travel with the record so the incident can say what is not known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["AppFacts", "CaseEnrichment", "IpFacts", "KeyFacts", "LookupStatus", "RoleFact", "UserFacts",
           "combined_privilege"]

LookupStatus = Literal["ok", "not_found", "failed"]


@dataclass(frozen=True, kw_only=True)
class RoleFact:
    display_name: str
    role_template_id: str
    privileged: bool


@dataclass(frozen=True, kw_only=True)
class UserFacts:
    key: str
    """The object id or UPN the case knows the user by."""
    status: LookupStatus
    id: str | None = None
    user_principal_name: str | None = None
    display_name: str | None = None
    account_enabled: bool | None = None
    user_type: str | None = None
    department: str | None = None
    job_title: str | None = None
    created_date_time: str | None = None
    on_premises_sync_enabled: bool | None = None
    roles: tuple[RoleFact, ...] = ()
    roles_complete: bool = True
    """False when the memberships could not be read in full (a page failed, or Graph hid directory roles)."""
    group_ids: tuple[str, ...] | None = None
    """Object ids of the groups the user is a member of, directly or not; None when not completely read."""
    risk_level: str | None = None
    risk_state: str | None = None
    error: str | None = None

    @property
    def privileged(self) -> bool | None:
        """True when a privileged role was seen; None (unknown, never False) when the roles were not read in full."""
        if self.status != "ok":
            return None
        if any(role.privileged for role in self.roles):
            return True
        return False if self.roles_complete else None


@dataclass(frozen=True, kw_only=True)
class AppFacts:
    app_id: str
    status: LookupStatus
    display_name: str | None = None
    app_owner_organization_id: str | None = None
    sign_in_audience: str | None = None
    verified_publisher: str | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class IpFacts:
    ip: str
    classification: str
    """``public``, ``private``, ``loopback``, ``link-local``, ``reserved``, ``multicast`` or ``invalid``."""
    ti_matches: int | None = None
    threat_types: tuple[str, ...] = ()
    ti_descriptions: tuple[str, ...] = ()
    country: str | None = None
    city: str | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class KeyFacts:
    key_id: str
    published_by: tuple[str, ...]
    """Issuers (or JWKS sources) that publish this key id today."""
    certificate_not_before: datetime | None
    certificate_not_after: datetime | None
    compromised: str | None
    """The compromised-list entry's name, when the key is on the list."""
    compromised_sources: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CaseEnrichment:
    users: tuple[UserFacts, ...] = ()
    apps: tuple[AppFacts, ...] = ()
    ips: tuple[IpFacts, ...] = ()
    keys: tuple[KeyFacts, ...] = ()
    degraded: tuple[str, ...] = field(default=())
    """One line per lookup that failed; empty when enrichment is complete."""

    def to_json(self) -> dict[str, Any]:
        def convert(value: object) -> Any:
            if isinstance(value, datetime):
                return value.isoformat().replace("+00:00", "Z")
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [convert(v) for v in value]
            return value

        data = convert(asdict(self))
        for user, facts in zip(data["users"], self.users, strict=True):
            user["privileged"] = facts.privileged
        return dict(data)


def combined_privilege(flags: Iterable[bool | None]) -> bool | None:
    """Whether a case's users are privileged: True if any is, None if any is unknown, False only if all are known not.

    An unknown never reads as "not privileged": the response engine holds unattended containment of such a case
    for an approver (docs/policy.md).
    """
    values = list(flags)
    if any(value is True for value in values):
        return True
    if not values or any(value is None for value in values):
        return None
    return False
