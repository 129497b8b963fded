"""Injected faults: failing answers (503, 500, ...), held connections, or answers lost after the write was
applied, N times then success.

A rule matches a request by method and by a glob over its path relative to the
service root (``/users/*``, ``/identityProtection/riskyUsers*``), case-
insensitively, whether the request came on its own or inside a ``$batch``. Each
match uses one of the rule's ``times``; a spent rule stops matching, so "two
503s, then success" is ``fail("/users/*", times=2)``. Rules are checked in the
order they were added.

``drop_after_apply`` is the fault a retry layer cannot see through: the request is handled as usual (the
write lands in the tenant and is counted in ``state.writes``), then the connection is closed without an
answer, as when a gateway or the network loses Graph's response. The client sees a dropped connection and
cannot tell from it whether the write happened. Such a rule is spent only by a request that was applied (its
handler answered 2xx): a request refused earlier (throttled, unauthorised, malformed) leaves it armed, so
"lose the answer to the applied write" cannot be used up by a 429 whose answer the client did see.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["FaultInjector", "FaultKind", "FaultRule"]

FaultKind = Literal["status", "timeout", "drop_after_apply"]
_DEFAULT_ERRORS = {
    500: ("generalException", "An unspecified error has occurred."),
    502: ("serviceNotAvailable", "The server received an invalid response from an upstream server."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable for maintenance or is overloaded."),
    504: ("serviceNotAvailable", "The server did not receive a timely response from an upstream server."),
}


@dataclass(kw_only=True)
class FaultRule:
    pattern: str
    kind: FaultKind = "status"
    status: int = 503
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    """Seconds for a ``Retry-After`` header; ``None`` sends none."""
    times: int | None = 1
    """Matches left; ``None`` matches forever."""
    method: str | None = None
    hold_seconds: float = 30.0
    """For ``timeout``: how long the connection is held before it is closed without an answer."""
    hits: int = field(default=0)

    def __post_init__(self) -> None:
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise ValueError("a status fault needs a 4xx or 5xx status")
        if self.times is not None and self.times < 0:
            raise ValueError("times must be positive or None")
        if self.hold_seconds < 0:
            raise ValueError("hold_seconds must not be negative")

    @property
    def spent(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def error(self) -> tuple[str, str]:
        code, message = _DEFAULT_ERRORS.get(self.status, ("generalException", "An unspecified error has occurred."))
        return self.code or code, self.message or message

    def matches(self, method: str, path: str) -> bool:
        if self.spent or (self.method is not None and self.method.upper() != method.upper()):
            return False
        return fnmatch.fnmatchcase(path.lower(), self.pattern.lower())


class FaultInjector:
    """The active rules. Thread-safe; tests change it while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
            return rule

    def fail(self, pattern: str, *, status: int = 503, times: int | None = 1, retry_after: float | None = None,
             method: str | None = None, code: str | None = None, message: str | None = None) -> FaultRule:
        """Answer ``status`` (with Graph's error body) the next ``times`` matching requests."""
        return self.add(FaultRule(pattern=pattern, status=status, times=times, retry_after=retry_after,
                                  method=method, code=code, message=message))

    def timeout(self, pattern: str, *, hold_seconds: float = 30.0, times: int | None = 1,
                method: str | None = None) -> FaultRule:
        """Hold the next ``times`` matching requests for ``hold_seconds``, then drop the connection unanswered."""
        return self.add(FaultRule(pattern=pattern, kind="timeout", hold_seconds=hold_seconds, times=times,
                                  method=method))

    def drop_after_apply(self, pattern: str, *, times: int | None = 1, method: str | None = None) -> FaultRule:
        """Handle the next ``times`` matching requests as usual, then close the connection without the answer."""
        return self.add(FaultRule(pattern=pattern, kind="drop_after_apply", times=times, method=method))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first live arrival rule (``status`` or ``timeout``) matching this request, its use counted."""
        return self._take(method, path, applied=False)

    def take_after_apply(self, method: str, path: str) -> FaultRule | None:
        """The first live ``drop_after_apply`` rule matching a request that was just applied, its use counted."""
        return self._take(method, path, applied=True)

    def _take(self, method: str, path: str, *, applied: bool) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if (rule.kind == "drop_after_apply") == applied and rule.matches(method, path):
                    rule.hits += 1
                    return rule
            return None
