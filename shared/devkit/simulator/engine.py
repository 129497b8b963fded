"""The simulator's core, independent of HTTP: one request in, one Graph answer (or a dropped connection) out.

Every request, whether it came on its own or inside a ``$batch``, passes the
same steps in the order Graph's front door would apply them:

1. an injected fault for its path, if one is armed (answered or held; a lost answer is armed at step 7);
2. the bearer token (top-level requests only; batched ones ride on the batch's; roots mounted with
   ``bearer=False``, the Event Grid topic and the webhook sink, check their own keys or none);
3. routing (400 for an unknown segment, 405 for a known path with another method);
4. authorization: the app roles (Graph) or RBAC action (ARM) the route needs, and the tenant's licence for
   Identity Protection (403 in the service's own shape; :mod:`shared.devkit.simulator.permissions`);
5. throttling by the route's family and cost (429 with Graph's or ARM's body);
6. the handler;
7. for a request the handler applied (2xx), an armed ``drop_after_apply`` fault closes the connection unanswered.

Each step's outcome is counted in :class:`Stats` with the request's arrival time.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from shared.devkit.simulator import throttling
from shared.devkit.simulator.arm import ARM_ROOT, arm_error
from shared.devkit.simulator.faults import FaultInjector, FaultRule
from shared.devkit.simulator.handlers import default_router
from shared.devkit.simulator.permissions import GRAPH_REQUIREMENTS, IDENTITY_PROTECTION_ROUTES, SIMULATED_PRINCIPAL_ID
from shared.devkit.simulator.responses import GraphResponse, RequestIds, graph_error
from shared.devkit.simulator.routing import NO_RESPONSE, Outcome, RequestContext, Route, Router
from shared.devkit.simulator.state import TenantState
from shared.devkit.simulator.stats import RequestRecord, Stats
from shared.devkit.simulator.throttling import ThrottleDecision, ThrottleLimit, Throttler

__all__ = ["API_VERSION", "CONTROL_PREFIX", "Simulator"]

API_VERSION = "v1.0"
CONTROL_PREFIX = "_simulator"
_WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                     'client_id="00000003-0000-0000-c000-000000000000"')
_log = logging.getLogger(__name__)


class Simulator:
    """Tenant state plus the knobs (limits, latency, faults) and the counters, behind ``handle``.

    ``limits`` maps a throttling family to its limit (``None`` disables it); by
    default Graph's documented limits for the tenant's size. ``latency`` seconds
    are added before every top-level answer. ``clock`` is monotonic seconds
    (buckets and arrival times), ``now`` the wall clock for error dates.
    """

    def __init__(
        self,
        state: TenantState,
        *,
        limits: Mapping[str, ThrottleLimit | None] | None = None,
        latency: float = 0.0,
        router: Router | None = None,
        control_endpoint: bool = True,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.state = state
        self.router = router or default_router()
        self.throttle = Throttler(limits if limits is not None else throttling.default_limits(len(state.users())),
                                  clock=clock)
        self.faults = FaultInjector()
        self.stats = Stats()
        self.latency = latency
        self.control_endpoint = control_endpoint
        self._clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        self._stopping = threading.Event()
        self._roots: dict[str, Router] = {API_VERSION: self.router}
        self._open_roots: set[str] = set()
        self._builtin_roots: set[str] = set()
        for segment, extra, bearer in _builtin_mounts():
            self.mount(segment, extra, bearer=bearer)
            self._builtin_roots.add(segment)

    def mount(self, segment: str, router: Router, *, bearer: bool = True) -> None:
        """Serve ``router`` under ``/{segment}`` as well (e.g. ARM routes under ``subscriptions``).

        Templates are relative to the segment; requests there pass the same
        faults, auth, throttling and counting as Graph's (without the bearer
        check when ``bearer`` is false). A built-in root (``subscriptions``,
        ``api``, ``_sinks``) may be replaced once by an explicit mount.
        """
        taken = segment in self._roots and segment not in self._builtin_roots
        if not segment or "/" in segment or segment == CONTROL_PREFIX or taken:
            raise ValueError(f"cannot mount a router at {segment!r}")
        self._builtin_roots.discard(segment)
        self._roots[segment] = router
        if bearer:
            self._open_roots.discard(segment)
        else:
            self._open_roots.add(segment)

    # --- lifecycle -----------------------------------------------------------------------------
    def stop(self) -> None:
        """End every wait (latency, held connections) now; the server calls this on shutdown."""
        self._stopping.set()

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def reset(self) -> None:
        """Clear counters and faults and refill every bucket; the tenant state is kept."""
        self.stats.reset()
        self.faults.clear()
        self.throttle.refill()

    # --- entry points --------------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None, *,
               server_root: str) -> Outcome:
        """Answer one HTTP request; ``target`` is the request line's path and query."""
        lowered = {name.lower(): value for name, value in headers.items()}
        ids = self.new_ids(lowered.get("client-request-id"))
        outcome = self._handle(method.upper(), target, lowered, body, ids, server_root)
        if isinstance(outcome, GraphResponse):
            return outcome.with_headers({"request-id": ids.request_id, "client-request-id": ids.client_request_id})
        return outcome

    def _handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None, ids: RequestIds,
                server_root: str) -> Outcome:
        parts = urlsplit(target)
        stripped = parts.path.strip("/")
        segments = tuple(unquote(segment) for segment in stripped.split("/")) if stripped else ()
        if segments and segments[0] == CONTROL_PREFIX and self.control_endpoint:
            from shared.devkit.simulator.control import handle_control

            return handle_control(self, method, segments[1:], body, ids)
        self.wait(self.latency)
        if self._stopping.is_set():
            return NO_RESPONSE
        if not segments or segments[0] not in self._roots:
            self._record(method, parts.path, 400, received=self._clock(), ids=ids)
            return graph_error(400, "BadRequest", "Invalid version.", ids)
        root = segments[0]
        context = RequestContext(
            method=method, path=parts.path[len(root) + 1 :] or "/", segments=segments[1:], query=parts.query,
            headers=headers, body=body, ids=ids, service_root=f"{server_root}/{root}", root=root)
        return self.dispatch(context, authenticated=root in self._open_roots)

    def dispatch(self, context: RequestContext, *, authenticated: bool) -> Outcome:
        """Run one request through faults, auth, routing, throttling and its handler; count it."""
        received = self._clock()
        seq = self.stats.next_seq()
        if not context.in_batch:
            context = dataclasses.replace(context, batch_seq=seq)
        resolution = self._roots[context.root].resolve(context.method, context.segments)
        route = resolution.route
        record = _Recorder(self, context, seq, received, route)
        fault = self.faults.take(context.method, context.path)
        if fault is not None and fault.kind == "timeout":
            record(NO_RESPONSE, fault=fault.kind)  # counted on arrival: the hold may outlast the test
            self.wait(fault.hold_seconds)
            return NO_RESPONSE
        if fault is not None and fault.kind == "status":
            return record(self._fault(fault, context), fault=fault.kind)
        if not authenticated and not _has_bearer(context.header("authorization")):
            return record(graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", context.ids,
                                      headers={"WWW-Authenticate": _WWW_AUTHENTICATE}))
        if route is None:
            status, code, message = resolution.error or (400, "BadRequest", "Invalid request.")
            return record(graph_error(status, code, message, context.ids))
        context = dataclasses.replace(context, params=resolution.params)
        denied = self._authorize(context, route)
        if denied is not None:
            return record(denied)
        cost = route.cost(context)
        if route.family is not None:
            decision = self.throttle.check(route.family, cost)
            if decision.allowed and route.family == throttling.IDENTITY \
                    and context.method.upper() in throttling.WRITE_METHODS:
                decision = self.throttle.check(throttling.IDENTITY_WRITE, 1)
            if not decision.allowed:
                return record(_throttled(context, route, decision), throttled=True)
        try:
            outcome = route.handler(context, self)
        except Exception:
            _log.exception("simulator handler for %s failed", route.name)
            outcome = graph_error(500, "generalException", "An unspecified error has occurred.", context.ids)
        if isinstance(outcome, GraphResponse) and route.family == throttling.IDENTITY:
            outcome = outcome.with_headers({"x-ms-resource-unit": str(cost)})
        applied = isinstance(outcome, GraphResponse) and 200 <= outcome.status < 300
        lost = self.faults.take_after_apply(context.method, context.path) if applied else None
        if lost is not None:
            record(outcome, fault=lost.kind)  # applied and counted with its real status; the answer is lost
            return NO_RESPONSE
        return record(outcome)

    def new_ids(self, client_request_id: str | None = None) -> RequestIds:
        request_id = str(uuid.uuid4())
        return RequestIds(request_id=request_id, client_request_id=client_request_id or request_id, date=self._now())

    # --- internals -----------------------------------------------------------------------------
    def _authorize(self, context: RequestContext, route: Route) -> GraphResponse | None:
        """The service's 403 when the caller lacks what the route needs, else None."""
        grants = self.state.grants
        if context.root == ARM_ROOT:
            if route.rbac_action is None:
                return None
            scope = "/subscriptions" + context.path.split("?", 1)[0]
            if grants.arm_allows(route.rbac_action, scope):
                return None
            client = SIMULATED_PRINCIPAL_ID
            return arm_error(403, "AuthorizationFailed",
                             f"The client '{client}' with object id '{client}' does not "
                             f"have authorization to perform action '{route.rbac_action}' over scope '{scope}' or the "
                             "scope is invalid. If access was recently granted, please refresh your credentials.")
        if context.root != API_VERSION:
            return None
        requirement = GRAPH_REQUIREMENTS.get((route.method, route.template))
        if requirement is not None and not grants.graph_allows(requirement):
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
                               context.ids)
        if route.template in IDENTITY_PROTECTION_ROUTES and not grants.identity_protection_licensed:
            return graph_error(403, "Forbidden", "Your tenant is not licensed for this feature.", context.ids)
        return None

    def _fault(self, rule: FaultRule, context: RequestContext) -> GraphResponse:
        code, message = rule.error()
        headers = {} if rule.retry_after is None else {"Retry-After": _seconds(rule.retry_after)}
        return graph_error(rule.status, code, message, context.ids, headers=headers)

    def _record(self, method: str, path: str, status: int | None, *, received: float, ids: RequestIds) -> None:
        self.stats.add(RequestRecord(seq=self.stats.next_seq(), received_at=received, method=method.upper(),
                                     path=path, route=None, status=status, request_id=ids.request_id))


class _Recorder:
    """Counts a request's outcome once it is known, with what the request looked like on arrival."""

    def __init__(self, simulator: Simulator, context: RequestContext, seq: int, received: float,
                 route: Route | None) -> None:
        self.stats = simulator.stats
        self.context = context
        self.seq = seq
        self.received = received
        self.route = route

    def __call__(self, outcome: Outcome, *, fault: str | None = None, throttled: bool = False) -> Outcome:
        status = outcome.status if isinstance(outcome, GraphResponse) else None
        retry_after = outcome.headers.get("Retry-After") if isinstance(outcome, GraphResponse) else None
        self.stats.add(RequestRecord(
            seq=self.seq, received_at=self.received, method=self.context.method, path=self.context.path,
            route=self.route.name if self.route else None, status=status,
            family=self.route.family if self.route else None, in_batch=self.context.in_batch,
            batch_seq=self.context.batch_seq if self.context.in_batch else None, throttled=throttled,
            retry_after=retry_after, fault=fault, request_id=self.context.ids.request_id))
        return outcome


def _builtin_mounts() -> list[tuple[str, Router, bool]]:
    """ARM (bearer), the Event Grid topic and the webhook sink (their own keys or none) beside Graph."""
    from shared.devkit.simulator.arm import ARM_ROOT, arm_router
    from shared.devkit.simulator.ingestion import INGESTION_ROOT, ingestion_router
    from shared.devkit.simulator.sinks import EVENT_GRID_ROOT, SINK_ROOT, event_grid_router, sink_router

    return [(ARM_ROOT, arm_router(), True), (EVENT_GRID_ROOT, event_grid_router(), False),
            (SINK_ROOT, sink_router(), False), (INGESTION_ROOT, ingestion_router(), False)]


def _has_bearer(header: str | None) -> bool:
    scheme, _, token = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and bool(token.strip())


def _throttled(context: RequestContext, route: Route, decision: ThrottleDecision) -> GraphResponse:
    limit = decision.limit
    headers: dict[str, str] = {}
    retry_after = decision.retry_after_header()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if route.family in (throttling.ARM_READ, throttling.ARM_WRITE):
        kind = "read" if route.family == throttling.ARM_READ else "write"
        return arm_error(429, "SubscriptionRequestsThrottled",
                         f"Number of '{kind}' requests for subscription '{context.params.get('sub', '')}' actor "
                         f"'{SIMULATED_PRINCIPAL_ID}' exceeded. Please try again after '{retry_after or 1}' seconds.",
                         headers=headers)
    if route.family == throttling.IDENTITY:
        headers["x-ms-throttle-information"] = "ResourceUnitLimitExceeded"
    detailed = limit is None or limit.detailed_inner_error
    inner = {"code": "429", "message": "Please retry after", "status": "429"} if detailed else None
    message = limit.message if limit is not None else "Please retry again later."
    return graph_error(429, "TooManyRequests", message, context.ids, headers=headers, inner=inner)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"
