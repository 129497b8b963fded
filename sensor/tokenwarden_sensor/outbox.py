"""A bounded outbox with one background sender thread: how the sensor sends anything without slowing the app.

:meth:`Outbox.put` only appends to a bounded queue under a lock and returns; it never waits for the network
and never raises. When the queue is full, the *oldest* item is dropped and counted: the newest observations
are the ones worth keeping when an endpoint has been unreachable for a while. A daemon thread (started on
the first ``put``) sends batches when ``batch_size`` items are waiting, every ``flush_interval`` seconds,
and on :meth:`flush` or :meth:`close`. A batch that fails is counted and not retried here (the SDK clients
retry within their own timeouts first), so a dead endpoint costs the app nothing but dropped rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Outbox", "OutboxCounters"]

T = TypeVar("T")
log = logging.getLogger("tokenwarden_sensor")


@dataclass(frozen=True, kw_only=True)
class OutboxCounters:
    queued: int
    """Items accepted into the queue."""
    sent: int
    """Items the endpoint accepted."""
    dropped: int
    """Items pushed out of a full queue before they could be sent."""
    failed: int
    """Items in batches the endpoint refused or never answered."""
    pending: int
    """Items waiting now."""


class Outbox(Generic[T]):
    """Holds at most ``capacity`` items; ``send(batch)`` returns how many of the batch failed (or raises)."""

    def __init__(self, name: str, send: Callable[[list[T]], int], *, capacity: int = 10_000, batch_size: int = 500,
                 flush_interval: float = 5.0) -> None:
        if capacity < 1 or not 1 <= batch_size <= capacity or flush_interval <= 0:
            raise ValueError("need capacity >= batch_size >= 1 and flush_interval > 0")
        self.name = name
        self.capacity = capacity
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._send = send
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._flush_requested = 0
        self._flushed = 0
        self._in_flight = 0
        self._queued = self._sent = self._dropped = self._failed = 0
        self._last_warning = 0.0

    # --- the app's side: never blocks on the network, never raises -------------------------------------------
    def put(self, item: T) -> None:
        with self._cond:
            if self._closing:
                self._dropped += 1
                return
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self._dropped += 1
            self._items.append(item)
            self._queued += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"tokenwarden-sensor-{self.name}",
                                                daemon=True)
                self._thread.start()
            if len(self._items) >= self.batch_size:
                self._cond.notify_all()

    def counters(self) -> OutboxCounters:
        with self._cond:
            return OutboxCounters(queued=self._queued, sent=self._sent, dropped=self._dropped, failed=self._failed,
                                  pending=len(self._items) + self._in_flight)

    # --- flushing --------------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 30.0) -> bool:
        """Send what is queued now and wait (at most *timeout* s) until it has been sent or failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if self._thread is None:
                return True
            self._flush_requested += 1
            ticket = self._flush_requested
            self._cond.notify_all()
            while self._flushed < ticket:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self, timeout: float | None = 10.0) -> None:
        """Send what is left (waiting at most *timeout* s), then stop the thread; later items are dropped."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # --- the sender thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        draining = False  # after a timer tick, a flush or close: send until the queue is empty
        while True:
            with self._cond:
                deadline = time.monotonic() + self.flush_interval
                while not (draining and self._items) and not self._closing and len(self._items) < self.batch_size \
                        and self._flushed >= self._flush_requested:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        draining = True
                        break
                    self._cond.wait(remaining)
                if self._closing or self._flushed < self._flush_requested:
                    draining = True
                ticket = self._flush_requested
                # One batch at a time: at most capacity + batch_size items are ever held.
                batch = [self._items.popleft() for _ in range(min(self.batch_size, len(self._items)))]
                self._in_flight = len(batch)
                closing = self._closing
            if batch:
                self._deliver(batch)
            with self._cond:
                self._in_flight = 0
                if not self._items:
                    draining = False
                    self._flushed = max(self._flushed, ticket)
                    self._cond.notify_all()
                    if closing:
                        return

    def _deliver(self, batch: list[T]) -> None:
        try:
            failed = max(0, min(len(batch), int(self._send(batch))))
        except Exception as exc:  # the app must never see it
            failed = len(batch)
            self._warn(f"{len(batch)} item(s) not sent: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        with self._cond:
            self._sent += len(batch) - failed
            self._failed += failed

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 60.0:  # one line a minute at most, whatever the failure rate
            self._last_warning = now
            log.warning("tokenwarden sensor %s: %s", self.name, message)
