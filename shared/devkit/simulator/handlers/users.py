"""``/users``, ``/users/{id | userPrincipalName}`` and the user's ``memberOf`` / ``transitiveMemberOf``.

Without ``$select`` a user carries Graph's eleven default properties
(businessPhones, displayName, givenName, id, jobTitle, mail, mobilePhone,
officeLocation, preferredLanguage, surname, userPrincipalName); others, such as
accountEnabled or signInSessionsValidFromDateTime, only when selected. Member-
ship lists are ``directoryObject`` collections mixing ``#microsoft.graph.group``
and ``#microsoft.graph.directoryRole`` items, 100 to a page unless ``$top``
(at most 999) says otherwise. Without a role-reading permission
(RoleManagement.Read.Directory or Directory.Read.All) directory roles are listed with
``@odata.type`` and ``id`` only, as Graph lists objects the app may not read.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.devkit.simulator import throttling
from shared.devkit.simulator.handlers.common import (
    collection,
    entity,
    filtered,
    identity_cost,
    options,
    query_failure,
    resource_not_found,
)
from shared.devkit.simulator.odata import QueryError
from shared.devkit.simulator.odata_filter import FilterError, FilterRules
from shared.devkit.simulator.responses import GraphResponse
from shared.devkit.simulator.routing import RequestContext, Route, Router, SimulatorApp
from shared.devkit.simulator.state import SimDirectoryRole, SimGroup, SimUser

__all__ = ["DEFAULT_USER_PROPERTIES", "register"]

DEFAULT_USER_PROPERTIES = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                           "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
_USER_TYPE = "microsoft.graph.user"
_ITEM_OPTIONS = frozenset({"$select"})
_LIST_OPTIONS = frozenset({"$select", "$top", "$filter", "$skiptoken"})
_MEMBERSHIP_OPTIONS = frozenset({"$select", "$top", "$skiptoken"})
_USER_FILTERS = FilterRules("User", {
    "id": frozenset({"eq", "ne", "in"}),
    "userPrincipalName": frozenset({"eq", "ne", "in", "startswith", "endswith"}),
    "displayName": frozenset({"eq", "ne", "in", "startswith"}),
    "mail": frozenset({"eq", "ne", "in", "startswith", "endswith"}),
    "accountEnabled": frozenset({"eq", "ne"}),
    "userType": frozenset({"eq", "ne", "in"}),
    "department": frozenset({"eq", "ne", "in", "startswith"}),
    "jobTitle": frozenset({"eq", "ne", "in", "startswith"}),
})
_USER_KNOWN = tuple(SimUser(id="", user_principal_name="", display_name="").graph_properties())
_DIRECTORY_OBJECT_KNOWN = tuple(dict.fromkeys([
    *(name for name in SimGroup(id="", display_name="", mail_nickname="").graph_properties() if name[0] != "@"),
    "roleTemplateId", "description",
]))


def register(router: Router) -> None:
    router.add(Route(method="GET", template="/users", handler=list_users, family=throttling.IDENTITY,
                     cost=identity_cost(2, _LIST_OPTIONS), supported_options=_LIST_OPTIONS))
    router.add(Route(method="GET", template="/users/{id}", handler=get_user, family=throttling.IDENTITY,
                     cost=identity_cost(1, _ITEM_OPTIONS), supported_options=_ITEM_OPTIONS))
    router.add(Route(method="GET", template="/users/{id}/memberOf", handler=member_of, family=throttling.IDENTITY,
                     cost=identity_cost(2, _MEMBERSHIP_OPTIONS), supported_options=_MEMBERSHIP_OPTIONS))
    router.add(Route(method="GET", template="/users/{id}/transitiveMemberOf", handler=transitive_member_of,
                     family=throttling.IDENTITY, cost=identity_cost(2, _MEMBERSHIP_OPTIONS),
                     supported_options=_MEMBERSHIP_OPTIONS))


def get_user(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    key = context.params["id"]
    try:
        query = options(context, _ITEM_OPTIONS)
        user = app.state.find_user(key)
        if user is None:
            return resource_not_found(context, key)
        return entity(context, "users", user.graph_properties(), query, default=DEFAULT_USER_PROPERTIES,
                      type_name=_USER_TYPE)
    except QueryError as error:
        return query_failure(context, error)


def list_users(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    try:
        query = options(context, _LIST_OPTIONS)
        users = sorted(app.state.users(), key=lambda user: user.id)
        items = filtered([user.graph_properties() for user in users], query, _USER_FILTERS)
        return collection(context, "users", items, query, type_name=_USER_TYPE, known=_USER_KNOWN,
                          default=lambda _: DEFAULT_USER_PROPERTIES)
    except (QueryError, FilterError) as error:
        return query_failure(context, error)


def member_of(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    return _memberships(context, app, transitive=False)


def transitive_member_of(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    return _memberships(context, app, transitive=True)


def _memberships(context: RequestContext, app: SimulatorApp, *, transitive: bool) -> GraphResponse:
    key = context.params["id"]
    try:
        query = options(context, _MEMBERSHIP_OPTIONS)
        user = app.state.find_user(key)
        if user is None:
            return resource_not_found(context, key)
        containers: list[SimGroup | SimDirectoryRole] = (
            app.state.transitive_member_of(user.id) if transitive else app.state.member_of(user.id))
        see_roles = app.state.grants.can_read_roles
        items = [container.graph_properties() if see_roles or not isinstance(container, SimDirectoryRole)
                 else _limited(container.graph_properties()) for container in containers]
        return collection(context, "directoryObjects", items, query, type_name="microsoft.graph.directoryObject",
                          known=_DIRECTORY_OBJECT_KNOWN)
    except QueryError as error:
        return query_failure(context, error)


def _limited(properties: Mapping[str, object]) -> dict[str, object]:
    """An object the app may not read, as Graph lists it in a membership: ``@odata.type`` and ``id`` only.

    user-list-transitivememberof (microsoft-graph-docs-contrib, the ``limited-info`` include): "When an
    application queries a relationship that returns a directoryObject type collection, if it doesn't have
    permission to read a certain resource type, members of that type are returned but with limited information."
    Directory roles need RoleManagement.Read.Directory (or Directory.Read.All).
    """
    return {"@odata.type": properties["@odata.type"], "id": properties["id"]}
