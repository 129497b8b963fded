"""What the simulated tenant lets the caller do: its Graph app roles, its Azure role assignments, its licences.

The grants are read from ``infra/permissions.json``, the file the Bicep grants
from, so a permission the deployment lacks is refused here exactly as Graph or
ARM would refuse it in a tenant. Each route names what Microsoft documents it
needs (:data:`GRAPH_REQUIREMENTS`, :data:`ARM_ACTIONS`); a caller without it
gets the service's own 403:

* Graph: ``{"error": {"code": "Authorization_RequestDenied", "message":
  "Insufficient privileges to complete the operation.", "innerError": {...}}}``
  (``concepts/errors.md`` in microsoftgraph/microsoft-graph-docs-contrib lists
  403 ``Authorization_RequestDenied`` for a caller without the permission);
* ARM: ``{"error": {"code": "AuthorizationFailed", "message": "The client '{id}'
  with object id '{id}' does not have authorization to perform action '{action}'
  over scope '{scope}' or the scope is invalid. If access was recently granted,
  please refresh your credentials."}}`` (the form Azure RBAC troubleshooting quotes,
  ``articles/role-based-access-control/troubleshooting.md`` in MicrosoftDocs/azure-docs).

The simulator's default places each Azure role of the file at the tenant's
root; a test narrows a role to the scopes a deployment uses with
:meth:`Grants.assign`. ``identity_protection_licensed`` is the tenant's Entra ID
P2: without it ``/identityProtection/riskyUsers*`` answer 403 (every riskyUsers
page says "Using the riskyUsers API requires a Microsoft Entra ID P2 license";
the body Graph then sends, ``Forbidden`` / "Your tenant is not licensed for this
feature.", is what tenants report, not a documented contract).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "ARM_ACTIONS",
    "DEPLOYMENT_PERMISSIONS_FILE",
    "GRAPH_REQUIREMENTS",
    "ROLE_READING_PERMISSIONS",
    "SIMULATED_PRINCIPAL_ID",
    "AzureRole",
    "Grants",
    "RoleAssignment",
    "deployment_permissions",
]

DEPLOYMENT_PERMISSIONS_FILE = Path(__file__).resolve().parents[3] / "infra" / "permissions.json"
SIMULATED_PRINCIPAL_ID = "5c3a7d4e-0d1b-4f6a-9c2e-7b8d9e0f1a2b"
"""The object id the simulator says the caller has, in ARM's AuthorizationFailed message."""

Requirement = tuple[frozenset[str], ...]
"""Alternative sets of app roles: a caller holding every role of any one set may call the route."""


def _any_of(*roles: str) -> Requirement:
    return tuple(frozenset({role}) for role in roles)


# Application permissions each Graph route needs, least privileged first, from the route's page in
# microsoftgraph/microsoft-graph-docs-contrib api-reference/v1.0/api/ (user-get, user-list,
# user-list-memberof, user-list-transitivememberof, directoryrole-list, serviceprincipal-list,
# riskyuser-list, riskyuser-get, user-revokesigninsessions, user-update, riskyuser-confirmcompromised).
GRAPH_REQUIREMENTS: Mapping[tuple[str, str], Requirement] = {
    ("GET", "/users"): _any_of("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                               "Directory.ReadWrite.All"),
    ("GET", "/users/{id}"): _any_of("User.ReadBasic.All", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All",
                                    "Directory.ReadWrite.All"),
    ("GET", "/users/{id}/memberOf"): _any_of("User.Read.All", "GroupMember.Read.All", "Group.Read.All",
                                             "Directory.Read.All", "Directory.ReadWrite.All"),
    ("GET", "/users/{id}/transitiveMemberOf"): _any_of("User.Read.All", "GroupMember.Read.All", "Group.Read.All",
                                                       "Directory.Read.All", "Directory.ReadWrite.All"),
    ("GET", "/directoryRoles"): _any_of("RoleManagement.Read.Directory", "Directory.Read.All",
                                        "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"),
    ("GET", "/directoryRoles/{id}"): _any_of("RoleManagement.Read.Directory", "Directory.Read.All",
                                             "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"),
    ("GET", "/servicePrincipals"): _any_of("Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All",
                                           "Directory.ReadWrite.All"),
    ("GET", "/servicePrincipals/{id}"): _any_of("Application.Read.All", "Application.ReadWrite.All",
                                                "Directory.Read.All", "Directory.ReadWrite.All"),
    ("GET", "/identityProtection/riskyUsers"): _any_of("IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"),
    ("GET", "/identityProtection/riskyUsers/{id}"): _any_of("IdentityRiskyUser.Read.All",
                                                           "IdentityRiskyUser.ReadWrite.All"),
    ("POST", "/users/{id}/revokeSignInSessions"): _any_of("User.RevokeSessions.All", "User.ReadWrite.All",
                                                          "Directory.ReadWrite.All"),
    # user-update: for accountEnabled, "User.EnableDisableAccount.All + User.Read.All is the least privileged
    # combination".
    ("PATCH", "/users/{id}"): (frozenset({"User.EnableDisableAccount.All", "User.Read.All"}),
                               frozenset({"User.ReadWrite.All"}), frozenset({"Directory.ReadWrite.All"})),
    ("POST", "/identityProtection/riskyUsers/confirmCompromised"): _any_of("IdentityRiskyUser.ReadWrite.All"),
}

ROLE_READING_PERMISSIONS = frozenset({"RoleManagement.Read.Directory", "Directory.Read.All",
                                      "RoleManagement.ReadWrite.Directory", "Directory.ReadWrite.All"})
"""Any one lets the app read directoryRole objects; without one, ``transitiveMemberOf`` shows roles with only
``@odata.type`` and ``id`` (the "limited information" note on user-list-transitivememberof)."""

IDENTITY_PROTECTION_ROUTES = frozenset({"/identityProtection/riskyUsers", "/identityProtection/riskyUsers/{id}",
                                        "/identityProtection/riskyUsers/confirmCompromised"})

# The RBAC action each ARM route performs (azure-docs articles/role-based-access-control/permissions/security.md and
# web-and-mobile.md: Microsoft.SecurityInsights incidents and comments, Microsoft.Web/sites/restart/action).
ARM_ACTIONS: Mapping[tuple[str, str], str] = {
    ("PUT", "incident"): "Microsoft.SecurityInsights/incidents/write",
    ("GET", "incident"): "Microsoft.SecurityInsights/incidents/read",
    ("PUT", "comment"): "Microsoft.SecurityInsights/incidents/comments/write",
    ("GET", "comment"): "Microsoft.SecurityInsights/incidents/comments/read",
    ("POST", "restart"): "Microsoft.Web/sites/restart/action",
}


@dataclass(frozen=True, kw_only=True)
class AzureRole:
    name: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...] = ()

    def allows(self, action: str) -> bool:
        """Azure's rule: an action matches an ``actions`` pattern and no ``notActions`` pattern (case-insensitive)."""
        wanted = action.lower()
        return (any(fnmatch.fnmatchcase(wanted, pattern.lower()) for pattern in self.actions)
                and not any(fnmatch.fnmatchcase(wanted, pattern.lower()) for pattern in self.not_actions))


@dataclass(frozen=True, kw_only=True)
class RoleAssignment:
    role: AzureRole
    scope: str
    """A resource id prefix (``/`` is the whole tenant); the assignment covers the scope and everything under it."""

    def covers(self, resource_id: str) -> bool:
        scope = self.scope.rstrip("/").lower()
        return not scope or resource_id.lower() == scope or resource_id.lower().startswith(scope + "/")


@cache
def deployment_permissions(path: Path = DEPLOYMENT_PERMISSIONS_FILE) -> Mapping[str, Any]:
    """The parsed ``infra/permissions.json`` (read once per process)."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def _roles(document: Mapping[str, Any]) -> dict[str, AzureRole]:
    return {key: AzureRole(name=str(spec["roleName"]), actions=tuple(spec.get("actions", ())),
                           not_actions=tuple(spec.get("notActions", ())))
            for key, spec in document["azureRoles"].items()}


@dataclass
class Grants:
    """The caller's permissions in the simulated tenant; mutate it (under the state's lock) to take grants away."""

    graph_app_roles: set[str] = field(default_factory=set)
    assignments: list[RoleAssignment] = field(default_factory=list)
    roles: dict[str, AzureRole] = field(default_factory=dict)
    """The Azure roles of the deployment file, by their key there (``sentinelResponder``, ``siteRestart``)."""
    identity_protection_licensed: bool = True

    @classmethod
    def deployed(cls, document: Mapping[str, Any] | None = None) -> Grants:
        """What the deployment grants: every Graph app role of the file, every Azure role at the root."""
        document = document if document is not None else deployment_permissions()
        roles = _roles(document)
        return cls(graph_app_roles={str(role["value"]) for role in document["graphAppRoles"]},
                   assignments=[RoleAssignment(role=role, scope="/") for role in roles.values()], roles=roles)

    def assign(self, role_key: str, scopes: Iterable[str]) -> None:
        """Grant the file's role *role_key* on exactly *scopes*, replacing where it was assigned before."""
        role = self.roles[role_key]
        self.assignments = [a for a in self.assignments if a.role != role]
        self.assignments.extend(RoleAssignment(role=role, scope=scope) for scope in scopes)

    def graph_allows(self, requirement: Requirement) -> bool:
        return any(needed <= self.graph_app_roles for needed in requirement)

    @property
    def can_read_roles(self) -> bool:
        return bool(ROLE_READING_PERMISSIONS & self.graph_app_roles)

    def arm_allows(self, action: str, resource_id: str) -> bool:
        return any(a.covers(resource_id) and a.role.allows(action) for a in self.assignments)
