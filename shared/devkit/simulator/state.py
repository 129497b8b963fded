"""The simulated tenant: users, groups, activated directory roles, service principals and risky users.

One mutable object, guarded by one re-entrant lock, so tests can seed it before
serving and inspect it afterwards (and later write endpoints can change it).
Entities keep typed fields and render Graph's property names in
``graph_properties()``; the handlers never invent shapes of their own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.devkit.simulator.permissions import Grants
from shared.devkit.simulator.roles import RoleTemplate

__all__ = [
    "SimDirectoryRole",
    "SimGroup",
    "SimRiskyUser",
    "SimServicePrincipal",
    "SimUser",
    "SimWrite",
    "TenantState",
    "VerifiedPublisher",
    "graph_datetime",
]

_EPOCH = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)


def graph_datetime(value: datetime | None, *, fraction: bool = False) -> str | None:
    """Graph's spelling: UTC with ``Z``; risk timestamps carry seven fractional digits."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    if fraction:
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(kw_only=True)
class SimUser:
    id: str
    user_principal_name: str
    display_name: str
    given_name: str | None = None
    surname: str | None = None
    mail: str | None = None
    department: str | None = None
    job_title: str | None = None
    account_enabled: bool = True
    user_type: str = "Member"
    created: datetime = _EPOCH
    on_premises_sync_enabled: bool | None = None
    sign_in_sessions_valid_from: datetime | None = None
    business_phones: tuple[str, ...] = ()
    mobile_phone: str | None = None
    office_location: str | None = None
    preferred_language: str | None = None
    usage_location: str | None = None
    privileged: bool = False
    """The demo generator's flag; Graph has no such property, the roles say it."""

    def graph_properties(self) -> dict[str, object]:
        return {
            "id": self.id,
            "businessPhones": list(self.business_phones),
            "displayName": self.display_name,
            "givenName": self.given_name,
            "jobTitle": self.job_title,
            "mail": self.mail,
            "mobilePhone": self.mobile_phone,
            "officeLocation": self.office_location,
            "preferredLanguage": self.preferred_language,
            "surname": self.surname,
            "userPrincipalName": self.user_principal_name,
            "accountEnabled": self.account_enabled,
            "userType": self.user_type,
            "department": self.department,
            "createdDateTime": graph_datetime(self.created),
            "onPremisesSyncEnabled": self.on_premises_sync_enabled,
            "signInSessionsValidFromDateTime": graph_datetime(self.sign_in_sessions_valid_from or self.created),
            "usageLocation": self.usage_location,
            "deletedDateTime": None,
            "city": None,
            "country": None,
            "companyName": None,
            "employeeId": None,
            "mailNickname": self.user_principal_name.split("@", 1)[0],
            "onPremisesImmutableId": None,
            "onPremisesSamAccountName": None,
            "lastPasswordChangeDateTime": graph_datetime(self.created),
            "externalUserState": None,
        }


@dataclass(kw_only=True)
class SimGroup:
    id: str
    display_name: str
    description: str | None = None
    mail_nickname: str
    security_enabled: bool = True
    mail_enabled: bool = False
    group_types: tuple[str, ...] = ()
    is_assignable_to_role: bool = False
    mail: str | None = None
    created: datetime = _EPOCH

    def graph_properties(self) -> dict[str, object]:
        return {
            "@odata.type": "#microsoft.graph.group",
            "id": self.id,
            "deletedDateTime": None,
            "classification": None,
            "createdDateTime": graph_datetime(self.created),
            "description": self.description,
            "displayName": self.display_name,
            "groupTypes": list(self.group_types),
            "isAssignableToRole": self.is_assignable_to_role or None,
            "mail": self.mail,
            "mailEnabled": self.mail_enabled,
            "mailNickname": self.mail_nickname,
            "securityEnabled": self.security_enabled,
            "visibility": "Private" if "Unified" in self.group_types else None,
        }


@dataclass(kw_only=True)
class SimDirectoryRole:
    """An activated role: its object id is per tenant, its template id is global."""

    id: str
    template: RoleTemplate

    def graph_properties(self) -> dict[str, object]:
        return {
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": self.id,
            "deletedDateTime": None,
            "description": self.template.description,
            "displayName": self.template.display_name,
            "roleTemplateId": self.template.template_id,
        }


@dataclass(frozen=True, kw_only=True)
class VerifiedPublisher:
    display_name: str | None = None
    verified_publisher_id: str | None = None
    added: datetime | None = None

    def graph_properties(self) -> dict[str, object]:
        return {
            "displayName": self.display_name,
            "verifiedPublisherId": self.verified_publisher_id,
            "addedDateTime": graph_datetime(self.added),
        }


@dataclass(kw_only=True)
class SimServicePrincipal:
    id: str
    app_id: str
    display_name: str
    sign_in_audience: str | None = "AzureADMyOrg"
    service_principal_names: tuple[str, ...] = ()
    app_owner_organization_id: str | None = None
    verified_publisher: VerifiedPublisher = field(default_factory=VerifiedPublisher)
    service_principal_type: str = "Application"
    account_enabled: bool = True
    tags: tuple[str, ...] = ()

    def graph_properties(self) -> dict[str, object]:
        return {
            "id": self.id,
            "deletedDateTime": None,
            "accountEnabled": self.account_enabled,
            "appDisplayName": self.display_name,
            "appId": self.app_id,
            "appOwnerOrganizationId": self.app_owner_organization_id,
            "appRoleAssignmentRequired": False,
            "displayName": self.display_name,
            "servicePrincipalNames": list(self.service_principal_names or (self.app_id,)),
            "servicePrincipalType": self.service_principal_type,
            "signInAudience": self.sign_in_audience,
            "tags": list(self.tags),
            "verifiedPublisher": self.verified_publisher.graph_properties(),
        }


@dataclass(kw_only=True)
class SimRiskyUser:
    id: str
    """The user's object id: riskyUser ids are the ids of the users they describe."""
    user_principal_name: str
    user_display_name: str
    risk_level: str = "none"
    risk_state: str = "none"
    risk_detail: str = "none"
    risk_last_updated: datetime = _EPOCH
    is_deleted: bool = False
    is_processing: bool = False

    def graph_properties(self) -> dict[str, object]:
        return {
            "id": self.id,
            "isDeleted": self.is_deleted,
            "isProcessing": self.is_processing,
            "riskLastUpdatedDateTime": graph_datetime(self.risk_last_updated, fraction=True),
            "riskLevel": self.risk_level,
            "riskState": self.risk_state,
            "riskDetail": self.risk_detail,
            "userDisplayName": self.user_display_name,
            "userPrincipalName": self.user_principal_name,
        }


@dataclass(frozen=True, kw_only=True)
class SimWrite:
    """One change a write endpoint made, in arrival order: ``state.writes`` says what happened and how often."""

    action: str
    """``revokeSignInSessions``, ``updateUser``, ``confirmCompromised``, ``putIncident``, ``putIncidentComment``,
    ``restartSite``, ``webhook``, ``refreshKeys`` or ``publishEvents``."""
    target: str
    """The object the write changed (user id, ARM resource id, site name, sink name, ...)."""
    details: Mapping[str, object] = field(default_factory=dict)
    at: datetime


DirectoryContainer = SimGroup | SimDirectoryRole


class TenantState:
    """Everything the simulator serves. Mutate through the methods (they take the lock)."""

    def __init__(self, *, tenant_id: str, domain: str = "contoso.example") -> None:
        self.tenant_id = tenant_id
        self.domain = domain
        self.lock = threading.RLock()
        self._users: dict[str, SimUser] = {}
        self._upns: dict[str, str] = {}
        self._groups: dict[str, SimGroup] = {}
        self._roles: dict[str, SimDirectoryRole] = {}
        self._member_of: dict[str, list[str]] = {}
        self._service_principals: dict[str, SimServicePrincipal] = {}
        self._risky_users: dict[str, SimRiskyUser] = {}
        self.writes: list[SimWrite] = []
        """Every change write endpoints made, oldest first (read it under ``lock`` or via ``writes_of``)."""
        self.arm_resources: dict[str, dict[str, object]] = {}
        """ARM resources by lower-cased resource id (Sentinel incidents and their comments), as last answered."""
        self.incident_counter = 0
        self.arm_create_status = 201
        """What an ARM PUT that creates answers: 201, or 200, which the Sentinel spec allows as well."""
        self.site_restarts: dict[str, int] = {}
        """Restarts per lower-cased ``{resourceGroup}/{site}``."""
        self.webhooks: dict[str, list[object]] = {}
        """JSON bodies posted to ``/_sinks/webhook/{name}``, per sink name, oldest first."""
        self.events: list[dict[str, object]] = []
        """EventGridEvent-schema events published to ``/api/events``, oldest first."""
        self.refresh_calls: dict[str, list[dict[str, object]]] = {}
        """Calls to ``/_sinks/refresh/{name}`` per name, oldest first: ``{"body", "audience", "scope"}``."""
        self.ingested: dict[str, list[dict[str, object]]] = {}
        """Rows uploaded through the Logs Ingestion API, per ``{dcrImmutableId}/{stream}``, oldest first."""
        self.data_collection_rules: dict[str, dict[str, tuple[str, ...]]] = {}
        """Declared DCRs by immutable id: stream name -> the columns it keeps (``declare_data_collection_rule``)."""
        self.grants = Grants.deployed()
        """The caller's Graph app roles, Azure role assignments and the tenant's licences (infra/permissions.json)."""

    # --- seeding -------------------------------------------------------------------------------
    def stable_id(self, kind: str, name: str) -> str:
        """A deterministic object id, so one tenant folder always yields the same ids."""
        try:
            namespace = uuid.UUID(self.tenant_id)
        except ValueError:
            namespace = uuid.uuid5(uuid.NAMESPACE_URL, self.tenant_id)
        return str(uuid.uuid5(namespace, f"{kind}:{name}"))

    def add_user(self, user: SimUser) -> SimUser:
        with self.lock:
            key = user.id.lower()
            upn = user.user_principal_name.lower()
            if key in self._users or upn in self._upns:
                raise ValueError(f"user {user.user_principal_name} ({user.id}) already exists")
            self._users[key] = user
            self._upns[upn] = key
            return user

    def add_group(self, group: SimGroup) -> SimGroup:
        with self.lock:
            self._groups[group.id.lower()] = group
            return group

    def activate_role(self, template: RoleTemplate) -> SimDirectoryRole:
        """The tenant's directoryRole for a template, activating it (as Entra does on first assignment)."""
        with self.lock:
            for role in self._roles.values():
                if role.template.template_id == template.template_id:
                    return role
            role = SimDirectoryRole(id=self.stable_id("directoryRole", template.template_id), template=template)
            self._roles[role.id.lower()] = role
            return role

    def add_member(self, container_id: str, member_id: str) -> None:
        """Make ``member_id`` (a user or group) a direct member of a group or an activated role."""
        with self.lock:
            container = self.container(container_id)
            if container is None:
                raise KeyError(f"no group or directory role {container_id}")
            if member_id.lower() == container.id.lower():
                raise ValueError("a group cannot contain itself")
            memberships = self._member_of.setdefault(member_id.lower(), [])
            if container.id.lower() not in memberships:
                memberships.append(container.id.lower())

    def assign_role(self, member_id: str, template: RoleTemplate) -> SimDirectoryRole:
        role = self.activate_role(template)
        self.add_member(role.id, member_id)
        return role

    def declare_data_collection_rule(self, immutable_id: str, streams: Mapping[str, Iterable[str]]) -> None:
        """A DCR the Logs Ingestion endpoint accepts, with its streams and their columns."""
        with self.lock:
            self.data_collection_rules[immutable_id] = {name: tuple(columns) for name, columns in streams.items()}

    def add_service_principal(self, principal: SimServicePrincipal) -> SimServicePrincipal:
        with self.lock:
            self._service_principals[principal.id.lower()] = principal
            return principal

    def set_risky_user(self, risky: SimRiskyUser) -> SimRiskyUser:
        with self.lock:
            self._risky_users[risky.id.lower()] = risky
            return risky

    # --- reads ---------------------------------------------------------------------------------
    def find_user(self, key: str) -> SimUser | None:
        """By object id or userPrincipalName, case-insensitively, as ``/users/{id | userPrincipalName}``."""
        with self.lock:
            lowered = key.lower()
            user = self._users.get(lowered)
            if user is None and lowered in self._upns:
                user = self._users[self._upns[lowered]]
            return user

    def users(self) -> list[SimUser]:
        with self.lock:
            return list(self._users.values())

    def groups(self) -> list[SimGroup]:
        with self.lock:
            return list(self._groups.values())

    def directory_roles(self) -> list[SimDirectoryRole]:
        with self.lock:
            return list(self._roles.values())

    def container(self, object_id: str) -> DirectoryContainer | None:
        with self.lock:
            lowered = object_id.lower()
            return self._groups.get(lowered) or self._roles.get(lowered)

    def member_of(self, member_id: str) -> list[DirectoryContainer]:
        with self.lock:
            ids = self._member_of.get(member_id.lower(), [])
            return [found for found in (self.container(i) for i in ids) if found is not None]

    def transitive_member_of(self, member_id: str) -> list[DirectoryContainer]:
        """Direct memberships first, then what those groups are members of (breadth first, no repeats)."""
        with self.lock:
            seen: dict[str, DirectoryContainer] = {}
            queue = list(self.member_of(member_id))
            while queue:
                container = queue.pop(0)
                if container.id.lower() in seen:
                    continue
                seen[container.id.lower()] = container
                if isinstance(container, SimGroup):
                    queue.extend(self.member_of(container.id))
            return list(seen.values())

    def service_principals(self) -> list[SimServicePrincipal]:
        with self.lock:
            return list(self._service_principals.values())

    def risky_users(self) -> list[SimRiskyUser]:
        with self.lock:
            return list(self._risky_users.values())

    def risky_user(self, user_id: str) -> SimRiskyUser | None:
        with self.lock:
            return self._risky_users.get(user_id.lower())

    def role_holders(self, template: RoleTemplate) -> list[str]:
        """Object ids that are direct members of the activated role for ``template``."""
        with self.lock:
            role = next((r for r in self._roles.values() if r.template.template_id == template.template_id), None)
            if role is None:
                return []
            return [member for member, containers in self._member_of.items() if role.id.lower() in containers]

    # --- writes ------------------------------------------------------------------------------
    def record_write(self, action: str, target: str, at: datetime, **details: object) -> SimWrite:
        with self.lock:
            write = SimWrite(action=action, target=target, details=details, at=at)
            self.writes.append(write)
            return write

    def writes_of(self, action: str | None = None, target: str | None = None) -> list[SimWrite]:
        """Recorded writes, oldest first, optionally only one action's and/or one target's (case-insensitive)."""
        with self.lock:
            return [write for write in self.writes if (action is None or write.action == action)
                    and (target is None or write.target.lower() == target.lower())]

    def summary(self) -> Mapping[str, int]:
        with self.lock:
            return {
                "users": len(self._users),
                "groups": len(self._groups),
                "directoryRoles": len(self._roles),
                "servicePrincipals": len(self._service_principals),
                "riskyUsers": len(self._risky_users),
            }
