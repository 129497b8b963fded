"""Fixtures for the simulator tests: a generated demo tenant, and running simulators stopped at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.devkit.demo_data.generate import generate_demo_data
from shared.devkit.simulator import SimulatorServer, TenantState, build_simulator, load_tenant_state
from tests.support.servers import running

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ServeFactory = Callable[..., SimulatorServer]


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("simulator-demo")
    generate_demo_data(folder, users=30, days=2, seed=11, end=END)
    return folder


@pytest.fixture
def demo_state(demo_folder: Path) -> TenantState:
    return load_tenant_state(demo_folder)


@pytest.fixture
def serve() -> Iterator[ServeFactory]:
    """Start ``build_simulator(state, ...)`` on a background thread; stopped at teardown."""
    with ExitStack() as stack:

        def start(state: TenantState, **options: Any) -> SimulatorServer:
            return stack.enter_context(running(build_simulator(state, **options)))

        yield start


@pytest.fixture
def simulator(demo_state: TenantState, serve: ServeFactory) -> SimulatorServer:
    """The demo tenant without throttling, so tests that are not about limits are not slowed by them."""
    return serve(demo_state, limits={})
