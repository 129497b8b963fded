"""Where the containment bench's time goes: the ledger's round trips by kind, CPU by process, the machine's load.

:class:`RoundTrips` hooks the ledger's Table Storage pipeline (azure-core's ``raw_request_hook`` and
``raw_response_hook``, passed through :func:`shared.ledger.connection.open_ledger`), so every request the
ledger sends is counted once, by table, partition kind and operation, with its latency. An entity-group
transaction is one ``$batch`` request, counted as one round trip however many operations it carries.
:class:`Machine` samples the load average while a run lasts and reads the CPU time the bench's own process,
Azurite and the simulator spent, so a slow run can be told apart from a busy machine.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = ["Machine", "RoundTrips", "process_cpu_seconds"]

_ENTITY = re.compile(r"/(?P<table>[A-Za-z][A-Za-z0-9]*)\((?P<keys>[^)]*)\)$")
_TABLE = re.compile(r"/(?P<table>[A-Za-z][A-Za-z0-9]*)$")
_FAMILY = re.compile(r"^(?P<family>[A-Za-z]+?)(?:[0-9a-f]{12,})?$")
_PARTITION = re.compile(r"PartitionKey='(?P<pk>[^']*)'")


def _family(table: str) -> str:
    """The ledger table a table name belongs to: a run's own tables carry a hex suffix (``Casesd3f9…`` is
    ``Cases``; the bench's and the tests' are 12 and 16 hex digits)."""
    found = _FAMILY.match(table)
    return found.group("family") if found else table


def classify(method: str, url: str) -> str:
    """``<table>/<partition kind> <operation>`` for one Table Storage request, from its method and URL.

    The Cases table's partitions are kinds (``case``, ``principal``, ``alias``); the Actions table's are case
    ids, so they are all one kind (``case``).
    """
    path = unquote(urlsplit(url).path)
    if path.endswith("/$batch"):
        return "batch"
    entity = _ENTITY.search(path)
    if entity is not None:
        family = _family(entity.group("table"))
        keys = entity.group("keys")
        if not keys:
            return f"{family} query"
        pk = _PARTITION.search(keys)
        kind = pk.group("pk") if pk and family == "Cases" else "case"
        operation = {"GET": "read", "DELETE": "delete"}.get(method, "write")
        return f"{family}/{kind} {operation}"
    table = _TABLE.search(path)
    family = _family(table.group("table")) if table else "?"
    return f"{family} insert" if method == "POST" else f"{family} {method.lower()}"


@dataclass
class RoundTrips:
    """Counts and times every request the ledger's pipeline sends (thread-safe: the ledger runs in a pool)."""

    counts: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client_options(self) -> dict[str, Any]:
        return {"raw_request_hook": self._sent, "raw_response_hook": self._answered}

    def _sent(self, request: Any) -> None:
        request.context["bench_sent"] = time.perf_counter()

    def _answered(self, response: Any) -> None:
        started = response.context.get("bench_sent")
        http = response.http_request
        kind = classify(http.method, http.url)
        with self._lock:
            self.counts[kind] += 1
            if started is not None:
                self.seconds[kind] += time.perf_counter() - started

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.seconds.clear()

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {kind: {"count": self.counts[kind], "seconds": self.seconds[kind]}
                    for kind in sorted(self.counts)}


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all its threads) from ``/proc``; None where that is not readable."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Machine:
    """The 1-minute load average sampled every *every* seconds while a run lasts (a context manager)."""

    every: float = 2.0
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Machine:
        self.samples.append(os.getloadavg()[0])
        self._thread = threading.Thread(target=self._sample, name="bench-load", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        return {"min": min(self.samples), "max": max(self.samples),
                "mean": sum(self.samples) / len(self.samples)}
