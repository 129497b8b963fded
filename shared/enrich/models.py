"""Enrichment results: one typed record per looked-up thing, each saying whether the lookup worked.

A lookup that failed degrades the case instead of failing the scan; the status
and error travel with the record so the incident can say what is not known.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = ["AppFacts", "CaseEnrichment", "IpFacts", "KeyFacts", "LookupStatus", "RoleFact", "UserFacts"]

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
    group_ids: tuple[str, ...] | None = None
    """Object ids of the groups the user is a member of, directly or not; None when not completely read."""
    risk_level: str | None = None
    risk_state: str | None = None
    error: str | None = None

    @property
    def privileged(self) -> bool | None:
        if self.status != "ok":
            return None
        return any(role.privileged for role in self.roles)


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
