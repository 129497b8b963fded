"""The Graph side of the tests: a stand-in credential and running simulators stopped at teardown.

Opt in with ``pytest_plugins = ("tests.support.graph", ...)``; the ``simulator``
fixture serves the shared demo tenant (``tests.support.demo_logs``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest
from azure.core.credentials import AccessToken

from shared.simulator import SimulatorServer, TenantState, build_simulator, load_tenant_state
from tests.support.demo import DemoLogs
from tests.support.servers import running


class StaticCredential:
    """Entra stand-in: the simulator checks a bearer token is present, as Graph checks it is valid."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("simulated-token", int(time.time()) + 3600)


def serving(state: TenantState, **options: object) -> AbstractContextManager[SimulatorServer]:
    return running(build_simulator(state, **options))  # type: ignore[arg-type]


@pytest.fixture
def simulator(demo_logs: DemoLogs) -> Iterator[SimulatorServer]:
    with serving(load_tenant_state(demo_logs.folder)) as server:
        yield server
