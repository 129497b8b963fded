"""The scan's time budget: the Functions host's ``functionTimeout`` (host.json), shared out among the rule
queries still to run, so a hanging Log Analytics endpoint ends the run early instead of past the timeout.

``functionTimeout`` is the timeout of every function execution in the app, a timespan string
(``hh:mm:ss``); https://learn.microsoft.com/azure/azure-functions/functions-host-json#functiontimeout and, for
the limits per plan, https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout. ``-1`` means
no limit (then the scan has no budget). An app without the setting is given five minutes, the shortest
default any plan has. A fifth of the budget is kept back for recording the findings, re-queueing and
answering, which must finish inside the same execution.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.core.errors import ConfigurationError

__all__ = ["DEFAULT_FUNCTION_TIMEOUT", "HOST_JSON", "ScanBudget", "function_timeout"]

HOST_JSON = Path(__file__).resolve().parents[2] / "host.json"
DEFAULT_FUNCTION_TIMEOUT = 300.0
RESERVE = 0.2
"""The share of the budget kept for what follows the queries: recording, re-queueing, answering."""
MIN_QUERY_SECONDS = 5.0
"""A query given less than this would only time out: the rules left are reported as not run instead."""


def function_timeout(host_json: Path = HOST_JSON) -> float | None:
    """Seconds of ``functionTimeout`` in *host_json*; None for ``-1`` (no limit)."""
    try:
        document = json.loads(host_json.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_FUNCTION_TIMEOUT
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{host_json.name} is not readable JSON: {exc}") from None
    value = document.get("functionTimeout") if isinstance(document, dict) else None
    if value is None:
        return DEFAULT_FUNCTION_TIMEOUT
    text = str(value).strip()
    if text == "-1":
        return None
    days = 0.0
    clock = text
    if "." in text.split(":")[0]:  # d.hh:mm:ss
        head, _, clock = text.partition(".")
        try:
            days = float(head)
        except ValueError:
            raise ConfigurationError(f"functionTimeout {text!r} in {host_json.name} is not a timespan") from None
    try:
        hours, minutes, seconds = (float(p) for p in clock.split(":"))
    except ValueError:
        raise ConfigurationError(f"functionTimeout {text!r} in {host_json.name} is not a timespan (hh:mm:ss)") \
            from None
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ConfigurationError(f"functionTimeout {text!r} in {host_json.name} must be positive or -1")
    return total


@dataclass
class ScanBudget:
    """Seconds a scan may spend on queries, measured from when it was made, and how to share them out."""

    seconds: float
    minimum: float = MIN_QUERY_SECONDS
    clock: Callable[[], float] = time.monotonic
    _deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self._deadline = self.clock() + self.seconds * (1 - RESERVE)

    @classmethod
    def from_host(cls, host_json: Path = HOST_JSON) -> ScanBudget | None:
        timeout = function_timeout(host_json)
        return None if timeout is None else cls(seconds=timeout)

    def remaining(self) -> float:
        return max(0.0, self._deadline - self.clock())

    def per_query(self, queries_left: int) -> float | None:
        """The next query's deadline in seconds: an even share of what is left; None when nothing is left."""
        share = self.remaining() / max(1, queries_left)
        if self.remaining() < self.minimum:
            return None
        return max(share, self.minimum)
