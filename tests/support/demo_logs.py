"""One generated demo tenant per session, for the scan tests (opt in with ``pytest_plugins``).

The tenant ends at a fixed instant, so every scan test passes ``now`` explicitly and never depends
on the clock.
"""

from __future__ import annotations

import pytest

from shared.devkit.demo_data.generate import generate_demo_data
from tests.support.demo import DEMO_END, DemoLogs


@pytest.fixture(scope="session")
def demo_logs(tmp_path_factory: pytest.TempPathFactory) -> DemoLogs:
    folder = tmp_path_factory.mktemp("demo-logs")
    return DemoLogs(folder=folder, summary=generate_demo_data(folder, users=20, days=2, seed=3, end=DEMO_END))
