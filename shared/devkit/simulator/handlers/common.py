"""Pieces every area handler shares: parsed query options, Graph's error answers, entity and collection bodies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from shared.devkit.simulator import throttling
from shared.devkit.simulator.odata import QueryError, QueryOptions, next_link, page, parse_query, select_properties
from shared.devkit.simulator.odata_filter import FilterError, FilterRules, parse_filter
from shared.devkit.simulator.responses import GraphResponse, graph_error, json_response
from shared.devkit.simulator.routing import Cost, RequestContext

__all__ = [
    "collection",
    "context_url",
    "entity",
    "filtered",
    "identity_cost",
    "options",
    "query_failure",
    "resource_not_found",
]


def options(context: RequestContext, supported: frozenset[str]) -> QueryOptions:
    return parse_query(context.query, supported=supported)


def query_failure(context: RequestContext, error: QueryError | FilterError) -> GraphResponse:
    return graph_error(400, error.code, error.message, context.ids)


def resource_not_found(context: RequestContext, key: str) -> GraphResponse:
    """Directory's 404, word for word as Graph sends it for an unknown object."""
    return graph_error(404, "Request_ResourceNotFound",
                       f"Resource '{key}' does not exist or one of its queried reference-property objects are not "
                       f"present.", context.ids)


def context_url(context: RequestContext, entity_set: str, select: Sequence[str] | None, *, single: bool) -> str:
    """``@odata.context`` as Graph writes it: ``$metadata#users(id,displayName)/$entity``."""
    fragment = entity_set + (f"({','.join(select)})" if select else "")
    return f"{context.service_root}/$metadata#{fragment}{'/$entity' if single else ''}"


def entity(context: RequestContext, entity_set: str, properties: Mapping[str, object], query: QueryOptions, *,
           default: Sequence[str], type_name: str) -> GraphResponse:
    select = query.select
    body: dict[str, object] = {"@odata.context": context_url(context, entity_set, select, single=True)}
    body.update(select_properties(properties, select, default=default, known=properties.keys(), type_name=type_name))
    return json_response(body)


def filtered(items: Sequence[Mapping[str, object]], query: QueryOptions,
             rules: FilterRules) -> list[Mapping[str, object]]:
    expression = query.filter
    if expression is None:
        return list(items)
    predicate = parse_filter(expression, rules)
    return [item for item in items if predicate(item)]


def collection(context: RequestContext, entity_set: str, items: Sequence[Mapping[str, object]],
               query: QueryOptions, *, type_name: str, known: Sequence[str],
               default: Callable[[Mapping[str, object]], Sequence[str]] | None = None,
               default_top: int = 100, max_top: int = 999, paged: bool = True) -> GraphResponse:
    """A collection page: ``@odata.context``, ``@odata.nextLink`` when more remain, and ``value``."""
    select = query.select
    if paged:
        chunk, skiptoken = page(items, query, default_top=default_top, max_top=max_top)
    else:
        chunk, skiptoken = list(items), None
    values = [select_properties(item, select, default=default(item) if default else _own_properties(item),
                                known=known, type_name=type_name) for item in chunk]
    body: dict[str, object] = {"@odata.context": context_url(context, entity_set, select, single=False)}
    if skiptoken is not None:
        body["@odata.nextLink"] = next_link(context.service_root, context.path, query, skiptoken)
    body["value"] = values
    return json_response(body)


def _own_properties(item: Mapping[str, object]) -> list[str]:
    return [name for name in item if not name.startswith("@")]


def identity_cost(base: int, supported: frozenset[str]) -> Cost:
    """A route's resource-unit cost: ``base`` adjusted by the request's ``$select``, ``$top`` and ``$expand``."""

    def cost(context: RequestContext) -> int:
        try:
            query = options(context, supported)
            top = query.top(maximum=999)
        except QueryError:
            return base
        return throttling.identity_cost(base, query.names(), top)

    return cost
