"""What the simulator served: per-route and per-status counts, and a bounded log with arrival times.

Counts are kept for the server's lifetime (until ``reset``); the log keeps the
latest ``max_records`` requests, each stamped with the simulator's monotonic
clock at arrival, so a test can check a client's behaviour (it waited at least
``Retry-After`` before retrying) from the server's side, without timing itself.
Requests inside a ``$batch`` are logged one by one with ``in_batch`` set.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass

__all__ = ["RequestRecord", "Stats"]


@dataclass(frozen=True, kw_only=True)
class RequestRecord:
    seq: int
    received_at: float
    method: str
    path: str
    """Relative to the service root (``/users/{id}``), without the query."""
    route: str | None
    """The route's name, ``"GET /users/{id}"``, or ``None`` when no route matched."""
    status: int | None
    """``None`` when the connection was dropped unanswered (a timeout fault)."""
    family: str | None = None
    in_batch: bool = False
    batch_seq: int | None = None
    throttled: bool = False
    retry_after: str | None = None
    fault: str | None = None
    request_id: str = ""


class Stats:
    def __init__(self, *, max_records: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=max_records)
        self._counts: Counter[tuple[str | None, int | None, bool]] = Counter()
        self._seq = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            self._counts[(record.route, record.status, record.in_batch)] += 1

    def records(self, *, route: str | None = None, path: str | None = None) -> list[RequestRecord]:
        """The logged requests in arrival order, optionally for one route name or one exact path."""
        with self._lock:
            found = [r for r in self._records
                     if (route is None or r.route == route) and (path is None or r.path == path)]
        return sorted(found, key=lambda record: record.seq)

    def count(self, *, route: str | None = None, status: int | None = None, in_batch: bool | None = None) -> int:
        """Requests served, all or those matching every given criterion (``route`` is a route name)."""
        with self._lock:
            return sum(n for (r, s, b), n in self._counts.items()
                       if (route is None or r == route) and (status is None or s == status)
                       and (in_batch is None or b == in_batch))

    def by_route(self) -> dict[str, int]:
        with self._lock:
            totals: Counter[str] = Counter()
            for (route, _, _), n in self._counts.items():
                totals[route or "(unmatched)"] += n
            return dict(totals)

    def by_status(self) -> dict[int, int]:
        with self._lock:
            totals: Counter[int] = Counter()
            for (_, status, _), n in self._counts.items():
                totals[status if status is not None else 0] += n
            return dict(totals)

    @property
    def throttled(self) -> int:
        """429s served (at the top level and inside batches)."""
        return self.count(status=429)

    def throttled_offsets(self) -> list[float]:
        """Seconds from the first counted request to each 429: a burst at the start is expected, a late one is not."""
        records = self.records()
        if not records:
            return []
        start = min(r.received_at for r in records)
        return sorted(r.received_at - start for r in records if r.status == 429)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._counts.clear()
