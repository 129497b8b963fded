"""A small router: routes are ``(method, template)`` pairs, each in an area module that registers itself.

Templates are paths relative to the service root with ``{name}`` parameters
(``/users/{id}/memberOf``). Literal segments match case-insensitively, as
Graph's do, and beat parameters at the same position. When nothing matches,
the router answers as Graph does: an unknown segment is a 400
``Resource not found for the segment '...'``, a known path with another
method a 405. New areas (write endpoints, ARM routes) add modules that call
``router.add``; nothing here changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from shared.devkit.simulator.responses import GraphResponse, RequestIds

if TYPE_CHECKING:
    from shared.devkit.simulator.state import TenantState

__all__ = ["NO_RESPONSE", "Cost", "Handler", "NoResponse", "RequestContext", "Resolution", "Route", "Router",
           "SimulatorApp"]


class NoResponse:
    """The connection is to be dropped unanswered (a held ``timeout`` fault)."""

    def __repr__(self) -> str:
        return "NO_RESPONSE"


NO_RESPONSE = NoResponse()
Outcome = GraphResponse | NoResponse


@dataclass(frozen=True, kw_only=True)
class RequestContext:
    method: str
    path: str
    """Relative to the service root, as sent (percent-encoded), without the query."""
    segments: tuple[str, ...]
    """``path`` split on ``/`` and percent-decoded."""
    query: str
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: bytes | None
    ids: RequestIds
    service_root: str
    """Absolute URL of ``/v1.0`` on this server; links and contexts are built from it."""
    root: str = "v1.0"
    """The mounted path root the request came under; it picks the router."""
    in_batch: bool = False
    batch_seq: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class SimulatorApp(Protocol):
    """What handlers may use of the simulator: the tenant, and dispatch for batched requests."""

    @property
    def state(self) -> TenantState: ...

    def dispatch(self, context: RequestContext, *, authenticated: bool) -> Outcome: ...


Handler = Callable[[RequestContext, "SimulatorApp"], Outcome]
Cost = Callable[[RequestContext], int]


def _unit_cost(_: RequestContext) -> int:
    return 1


@dataclass(frozen=True, kw_only=True)
class Route:
    method: str
    template: str
    handler: Handler
    family: str | None = None
    """The throttling family that charges this route, if any."""
    cost: Cost = _unit_cost
    supported_options: frozenset[str] = frozenset()
    replaceable: bool = False
    """A built-in default that a later ``add`` of the same method and template replaces instead of clashing."""
    rbac_action: str | None = None
    """An ARM route's Azure RBAC action; the caller needs a role assignment allowing it on the resource."""

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.template.strip("/").split("/"))


@dataclass(frozen=True)
class Resolution:
    route: Route | None
    params: Mapping[str, str]
    error: tuple[int, str, str] | None = None
    """``(status, code, message)`` when no route answers."""


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, route: Route) -> Route:
        for index, existing in enumerate(self._routes):
            if existing.method == route.method and existing.template.lower() == route.template.lower():
                if not existing.replaceable:
                    raise ValueError(f"route {route.name} is already registered")
                self._routes[index] = route
                return route
        self._routes.append(route)
        return route

    def routes(self) -> list[Route]:
        return list(self._routes)

    def resolve(self, method: str, segments: tuple[str, ...]) -> Resolution:
        matches: list[tuple[int, Route, dict[str, str]]] = []
        for route in self._routes:
            params = _match(route.parts, segments)
            if params is not None:
                literal_count = sum(1 for part in route.parts if not part.startswith("{"))
                matches.append((literal_count, route, params))
        if matches:
            best = max(literal for literal, _, _ in matches)
            for literal, route, params in matches:
                if literal == best and route.method == method:
                    return Resolution(route, params)
            return Resolution(None, {}, (405, "Request_BadRequest",
                                         "Specified HTTP method is not allowed for the request target."))
        unknown = self._first_unknown_segment(segments)
        return Resolution(None, {}, (400, "BadRequest", f"Resource not found for the segment '{unknown}'."))

    def _first_unknown_segment(self, segments: tuple[str, ...]) -> str:
        for depth in range(len(segments)):
            prefix = segments[: depth + 1]
            if not any(_match(route.parts[: depth + 1], prefix) is not None for route in self._routes
                       if len(route.parts) > depth):
                return segments[depth]
        return segments[-1] if segments else ""


def _match(parts: tuple[str, ...], segments: tuple[str, ...]) -> dict[str, str] | None:
    if len(parts) != len(segments):
        return None
    params: dict[str, str] = {}
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("{") and part.endswith("}"):
            if not segment:
                return None
            params[part[1:-1]] = segment
        elif part.lower() != segment.lower():
            return None
    return params
