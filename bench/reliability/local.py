"""The local stack for the figures: Azurite and the demo tenant's logs, started once per ``make reliability``."""

from __future__ import annotations

import atexit
import functools
import os
import tempfile
from pathlib import Path

from bench.reliability.stack import Stack

__all__ = ["local_stack", "trials"]


def trials(name: str, default: int) -> int:
    """A trial count from the environment (``RELIABILITY_<NAME>``), else *default*."""
    return max(1, int(os.environ.get(f"RELIABILITY_{name}", str(default))))


@functools.cache
def local_stack() -> Stack:
    from datetime import UTC, datetime

    from shared.devkit.demo_data.generate import generate_demo_data
    from tools.azurite import Azurite

    folder = Path(tempfile.mkdtemp(prefix="tokenwarden-reliability-"))
    generate_demo_data(folder, users=20, days=2, seed=3, end=datetime(2026, 3, 2, 12, 0, tzinfo=UTC))
    azurite = Azurite()
    endpoints = azurite.start()
    atexit.register(azurite.stop)
    return Stack(connection_string=endpoints.connection_string, demo_folder=folder)
