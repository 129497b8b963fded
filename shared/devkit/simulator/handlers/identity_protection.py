"""``/identityProtection/riskyUsers`` and ``/identityProtection/riskyUsers/{id}``.

A riskyUser's id is the id of the user it describes. Identity Protection is
its own throttling family (1 request per second per tenant, 429s without
``Retry-After``). Filters cover what responders ask: by id, userPrincipalName,
riskLevel, riskState (``and``/``or``, enum literals such as
``microsoft.graph.riskLevel'high'``), and ranges on riskLastUpdatedDateTime.
Pages hold at most ``$top`` (up to 500) items.
"""

from __future__ import annotations

from shared.devkit.simulator import throttling
from shared.devkit.simulator.handlers.common import collection, entity, filtered, options, query_failure
from shared.devkit.simulator.odata import QueryError
from shared.devkit.simulator.odata_filter import FilterError, FilterRules
from shared.devkit.simulator.responses import GraphResponse, graph_error
from shared.devkit.simulator.routing import RequestContext, Route, Router, SimulatorApp
from shared.devkit.simulator.state import SimRiskyUser

__all__ = ["register"]

_TYPE = "microsoft.graph.riskyUser"
_LIST_OPTIONS = frozenset({"$select", "$filter", "$top", "$skiptoken"})
_ITEM_OPTIONS = frozenset({"$select"})
_FILTERS = FilterRules("RiskyUser", {
    "id": frozenset({"eq", "ne", "in"}),
    "userPrincipalName": frozenset({"eq", "ne", "in", "startswith"}),
    "userDisplayName": frozenset({"eq", "startswith"}),
    "riskLevel": frozenset({"eq", "ne", "in"}),
    "riskState": frozenset({"eq", "ne", "in"}),
    "riskDetail": frozenset({"eq", "ne", "in"}),
    "isDeleted": frozenset({"eq", "ne"}),
    "isProcessing": frozenset({"eq", "ne"}),
    "riskLastUpdatedDateTime": frozenset({"eq", "gt", "ge", "lt", "le"}),
})
_KNOWN = tuple(SimRiskyUser(id="", user_principal_name="", user_display_name="").graph_properties())


def register(router: Router) -> None:
    router.add(Route(method="GET", template="/identityProtection/riskyUsers", handler=list_risky_users,
                     family=throttling.IDENTITY_PROTECTION, supported_options=_LIST_OPTIONS))
    router.add(Route(method="GET", template="/identityProtection/riskyUsers/{id}", handler=get_risky_user,
                     family=throttling.IDENTITY_PROTECTION, supported_options=_ITEM_OPTIONS))


def list_risky_users(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    try:
        query = options(context, _LIST_OPTIONS)
        risky = sorted(app.state.risky_users(), key=lambda user: user.id)
        items = filtered([user.graph_properties() for user in risky], query, _FILTERS)
        return collection(context, "identityProtection/riskyUsers", items, query, type_name=_TYPE, known=_KNOWN,
                          max_top=500)
    except (QueryError, FilterError) as error:
        return query_failure(context, error)


def get_risky_user(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    key = context.params["id"]
    try:
        query = options(context, _ITEM_OPTIONS)
        risky = app.state.risky_user(key)
        if risky is None:
            return graph_error(404, "ResourceNotFound", f"Resource '{key}' was not found.", context.ids)
        return entity(context, "identityProtection/riskyUsers", risky.graph_properties(), query, default=_KNOWN,
                      type_name=_TYPE)
    except QueryError as error:
        return query_failure(context, error)
