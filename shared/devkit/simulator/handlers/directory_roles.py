"""``/directoryRoles`` and ``/directoryRoles/{id}``: the roles activated in the tenant.

Graph lists activated roles only (a template becomes a directoryRole on its
first assignment), unpaged, each with its tenant-specific ``id`` and the global
``roleTemplateId``; ``$filter=roleTemplateId eq '...'`` finds one by template.
"""

from __future__ import annotations

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

__all__ = ["register"]

_TYPE = "microsoft.graph.directoryRole"
_LIST_OPTIONS = frozenset({"$select", "$filter"})
_ITEM_OPTIONS = frozenset({"$select"})
_FILTERS = FilterRules("DirectoryRole", {
    "id": frozenset({"eq", "in"}),
    "roleTemplateId": frozenset({"eq", "in"}),
    "displayName": frozenset({"eq", "startswith"}),
})
_KNOWN = ("id", "deletedDateTime", "description", "displayName", "roleTemplateId")


def register(router: Router) -> None:
    router.add(Route(method="GET", template="/directoryRoles", handler=list_roles, family=throttling.IDENTITY,
                     cost=identity_cost(1, _LIST_OPTIONS), supported_options=_LIST_OPTIONS))
    router.add(Route(method="GET", template="/directoryRoles/{id}", handler=get_role, family=throttling.IDENTITY,
                     cost=identity_cost(1, _ITEM_OPTIONS), supported_options=_ITEM_OPTIONS))


def list_roles(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    try:
        query = options(context, _LIST_OPTIONS)
        roles = sorted(app.state.directory_roles(), key=lambda role: role.template.display_name)
        items = filtered([role.graph_properties() for role in roles], query, _FILTERS)
        return collection(context, "directoryRoles", items, query, type_name=_TYPE, known=_KNOWN, paged=False)
    except (QueryError, FilterError) as error:
        return query_failure(context, error)


def get_role(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    key = context.params["id"]
    try:
        query = options(context, _ITEM_OPTIONS)
        role = next((r for r in app.state.directory_roles() if r.id.lower() == key.lower()), None)
        if role is None:
            return resource_not_found(context, key)
        properties = {name: value for name, value in role.graph_properties().items() if name != "@odata.type"}
        return entity(context, "directoryRoles", properties, query, default=_KNOWN, type_name=_TYPE)
    except QueryError as error:
        return query_failure(context, error)
