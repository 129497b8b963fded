"""``/servicePrincipals`` (with ``$filter=appId eq '...'``) and ``/servicePrincipals/{id}``.

Filters follow what Graph accepts on servicePrincipal: ``eq``/``in`` on appId,
id, appOwnerOrganizationId; ``startswith`` too on displayName;
``servicePrincipalNames/any(x:x eq '...')``. Anything else is Graph's 400
``Request_UnsupportedQuery`` ("Unsupported or invalid query filter clause
specified for property 'x' of resource 'ServicePrincipal'.").
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
from shared.devkit.simulator.state import SimServicePrincipal

__all__ = ["register"]

_TYPE = "microsoft.graph.servicePrincipal"
_LIST_OPTIONS = frozenset({"$select", "$filter", "$top", "$skiptoken"})
_ITEM_OPTIONS = frozenset({"$select"})
_FILTERS = FilterRules("ServicePrincipal", {
    "id": frozenset({"eq", "in"}),
    "appId": frozenset({"eq", "in"}),
    "displayName": frozenset({"eq", "in", "startswith"}),
    "appOwnerOrganizationId": frozenset({"eq", "in"}),
    "servicePrincipalNames": frozenset({"any"}),
    "servicePrincipalType": frozenset({"eq", "in"}),
    "accountEnabled": frozenset({"eq"}),
    "tags": frozenset({"any"}),
})
_KNOWN = tuple(SimServicePrincipal(id="", app_id="", display_name="").graph_properties())


def register(router: Router) -> None:
    router.add(Route(method="GET", template="/servicePrincipals", handler=list_service_principals,
                     family=throttling.IDENTITY, cost=identity_cost(1, _LIST_OPTIONS),
                     supported_options=_LIST_OPTIONS))
    router.add(Route(method="GET", template="/servicePrincipals/{id}", handler=get_service_principal,
                     family=throttling.IDENTITY, cost=identity_cost(1, _ITEM_OPTIONS),
                     supported_options=_ITEM_OPTIONS))


def list_service_principals(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    try:
        query = options(context, _LIST_OPTIONS)
        principals = sorted(app.state.service_principals(), key=lambda principal: principal.id)
        items = filtered([principal.graph_properties() for principal in principals], query, _FILTERS)
        return collection(context, "servicePrincipals", items, query, type_name=_TYPE, known=_KNOWN)
    except (QueryError, FilterError) as error:
        return query_failure(context, error)


def get_service_principal(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    key = context.params["id"]
    try:
        query = options(context, _ITEM_OPTIONS)
        principal = next((p for p in app.state.service_principals() if p.id.lower() == key.lower()), None)
        if principal is None:
            return resource_not_found(context, key)
        return entity(context, "servicePrincipals", principal.graph_properties(), query, default=_KNOWN,
                      type_name=_TYPE)
    except QueryError as error:
        return query_failure(context, error)
