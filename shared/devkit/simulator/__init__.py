"""A local Microsoft Graph v1.0 tenant simulator: the endpoints Tokenwarden calls, with Graph's shapes and limits.

It serves the users, memberships, directory roles, service principals and
risky users of a generated demo tenant (or of a state built in code) over
loopback HTTP, answers JSON batches, and can be told to throttle, slow down or
fail, so the real msgraph-sdk client can be exercised offline. It also takes the
writes responders make (revoke sessions, disable accounts, confirm compromise;
:mod:`shared.devkit.simulator.handlers.writes`), Sentinel incident/comment and App
Service restart calls under ``/subscriptions`` (:mod:`shared.devkit.simulator.arm`),
and Event Grid / webhook deliveries (:mod:`shared.devkit.simulator.sinks`), recording
each change in ``state.writes``::

    state = load_tenant_state("out/demo/logs")
    server = build_simulator(state)          # bound to 127.0.0.1, a free port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ...  # point GraphServiceClient at server.graph_url
    server.shutdown(); server.server_close()

Only :mod:`shared.devkit.simulator.server` opens sockets; the rest is plain Python.
"""

from __future__ import annotations

from shared.devkit.simulator.engine import Simulator
from shared.devkit.simulator.faults import FaultInjector, FaultRule
from shared.devkit.simulator.seed import load_tenant_state, seed_directory
from shared.devkit.simulator.server import SimulatorServer, build_simulator, serve_simulator
from shared.devkit.simulator.state import (
    SimDirectoryRole,
    SimGroup,
    SimRiskyUser,
    SimServicePrincipal,
    SimUser,
    SimWrite,
    TenantState,
    VerifiedPublisher,
)
from shared.devkit.simulator.stats import RequestRecord, Stats
from shared.devkit.simulator.throttling import IDENTITY, IDENTITY_PROTECTION, ThrottleLimit, Throttler, default_limits

__all__ = [
    "IDENTITY",
    "IDENTITY_PROTECTION",
    "FaultInjector",
    "FaultRule",
    "RequestRecord",
    "SimDirectoryRole",
    "SimGroup",
    "SimRiskyUser",
    "SimServicePrincipal",
    "SimUser",
    "SimWrite",
    "Simulator",
    "SimulatorServer",
    "Stats",
    "TenantState",
    "ThrottleLimit",
    "Throttler",
    "VerifiedPublisher",
    "build_simulator",
    "default_limits",
    "load_tenant_state",
    "seed_directory",
    "serve_simulator",
]
