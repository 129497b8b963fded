"""Fixtures for the simulator tests: a generated demo tenant, and running simulators stopped at teardown."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.demo_data.generate import generate_demo_data
from shared.simulator import SimulatorServer, TenantState, build_simulator, load_tenant_state

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
    running: list[tuple[SimulatorServer, threading.Thread]] = []

    def start(state: TenantState, **options: Any) -> SimulatorServer:
        server = build_simulator(state, **options)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        thread.start()
        running.append((server, thread))
        return server

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def simulator(demo_state: TenantState, serve: ServeFactory) -> SimulatorServer:
    """The demo tenant without throttling, so tests that are not about limits are not slowed by them."""
    return serve(demo_state, limits={})
