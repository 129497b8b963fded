"""The Graph side of the tests: a stand-in credential and running simulators stopped at teardown.

Opt in with ``pytest_plugins = ("tests.support.graph", ...)``; the ``simulator``
fixture serves the shared demo tenant (``tests.support.demo_logs``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager

import pytest

from shared.core.credentials import LocalCredential
from shared.devkit.simulator import SimulatorServer, TenantState, build_simulator, load_tenant_state
from tests.support.demo import DemoLogs
from tests.support.servers import running


class StaticCredential(LocalCredential):
    """Entra stand-in: tokens shaped like Entra's with ``aud`` from the scope (shared.core.credentials.LocalCredential);
    the simulator checks a bearer is present, and for Event Grid and Logs Ingestion that it is for them."""


def serving(state: TenantState, **options: object) -> AbstractContextManager[SimulatorServer]:
    return running(build_simulator(state, **options))  # type: ignore[arg-type]


@pytest.fixture
def simulator(demo_logs: DemoLogs) -> Iterator[SimulatorServer]:
    with serving(load_tenant_state(demo_logs.folder)) as server:
        yield server
