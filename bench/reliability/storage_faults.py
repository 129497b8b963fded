"""Table Storage that dies: a transport for the real Tables SDK that counts the ledger's writes and, from a
chosen write on, fails every request as an unreachable storage account would.

The kill is injected below the SDK, in its HTTP transport (azure-core's ``transport`` option), so our code
sees exactly what an outage shows it: ``ServiceRequestError`` from every call (after azure-core's retries,
which the trials run without backoff, so a dead account fails at once).
"""

from __future__ import annotations

import threading
from typing import Any

from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.transport import RequestsTransport

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})


class StorageKiller(RequestsTransport):
    """Counts entity writes (table creation is not one); the ``kill_at``-th write and everything after it fail."""

    def __init__(self, kill_at: int | None = None) -> None:
        super().__init__()
        self.kill_at = kill_at
        self.writes = 0
        self.dead = False
        self._lock = threading.Lock()

    def revive(self) -> None:
        with self._lock:
            self.dead, self.kill_at = False, None

    def send(self, request: Any, **kwargs: Any) -> Any:
        with self._lock:
            if not self.dead and request.method.upper() in WRITE_METHODS and not request.url.split("?")[0] \
                    .rstrip("/").endswith("/Tables"):
                self.writes += 1
                if self.kill_at is not None and self.writes >= self.kill_at:
                    self.dead = True
            dead = self.dead
        if dead:
            raise ServiceRequestError("injected: the storage account does not answer")
        return super().send(request, **kwargs)


class QueryFault(RequestsTransport):
    """Reads whose URL (decoded) contains *marker* fail as if that part of the ledger could not be read."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.marker = marker
        self.failed = 0

    def send(self, request: Any, **kwargs: Any) -> Any:
        from urllib.parse import unquote

        if request.method.upper() == "GET" and self.marker in unquote(request.url):
            self.failed += 1
            raise ServiceRequestError("injected: this part of the ledger does not answer")
        return super().send(request, **kwargs)
