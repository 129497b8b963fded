"""The Graph simulator in its own process for benchmarks, so its request handling does not share our GIL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["BenchCredential", "SimulatorProcess"]


class BenchCredential:
    """The simulator checks a bearer token is present, as Graph checks it is valid."""

    def get_token(self, *scopes: str, **kwargs: object) -> object:
        from azure.core.credentials import AccessToken

        return AccessToken("bench", int(time.time()) + 3600)


class SimulatorProcess:
    """``tokenwarden simulate --tenant DIR`` started and stopped; the control endpoint for knobs and counters."""

    def __init__(self, tenant: Path, *extra: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "shared.cli.main", "simulate", "--tenant", str(tenant),
                                         *extra], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "Graph simulator at " not in line:
            self.process.kill()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.graph_url = line.split("Graph simulator at ", 1)[1].split()[0]
        self.origin = self.graph_url.removesuffix("/v1.0")

    def control(self, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.origin + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def set_limit(self, family: str, *, capacity: float, per_seconds: float, retry_after: bool = True) -> None:
        self.control("PUT", f"/_simulator/limits/{family}",
                     {"capacity": capacity, "perSeconds": per_seconds, "retryAfter": retry_after})

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/_simulator/stats")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
