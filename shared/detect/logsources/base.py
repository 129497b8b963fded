"""The log-source interface every backend implements, and the result types it returns.

A complete result and a partial one are different types, so a caller cannot
mistake a partial answer for the whole truth: Log Analytics may return
``LogsQueryPartialResult`` when a query hits a limit, and a hunt must report
that rather than silently present fewer findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

__all__ = [
    "CompleteResult",
    "LogSource",
    "ParameterValue",
    "PartialResult",
    "QueryOutcome",
    "ResultTable",
    "TimeRange",
]

ParameterValue = str | int | float | bool | datetime | Sequence[str] | None
"""Values a rule parameter may take; timespans travel as ``datetime.timedelta`` (see below)."""


@dataclass(frozen=True, kw_only=True)
class TimeRange:
    """A half-open ``[start, end)`` interval of ``TimeGenerated``, in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True, kw_only=True)
class ResultTable:
    """One tabular result: column names, Kusto column types and rows of Python values."""

    name: str
    columns: tuple[str, ...]
    column_types: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]

    def records(self) -> list[dict[str, object]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True, kw_only=True)
class CompleteResult:
    status: Literal["complete"] = "complete"
    table: ResultTable


@dataclass(frozen=True, kw_only=True)
class PartialResult:
    """The source answered, but not fully; ``error`` says why and ``partial_table`` holds what came back."""

    status: Literal["partial"] = "partial"
    partial_table: ResultTable
    error: str
    details: tuple[str, ...] = field(default=())


QueryOutcome = CompleteResult | PartialResult


class LogSource(Protocol):
    """Runs one rule query with typed parameter values over a time range.

    ``timespan`` is applied the way Log Analytics applies it: every table the
    query reads is limited to rows whose ``TimeGenerated`` falls in the range.
    Callers widen it to cover a rule's lookback or baseline.
    """

    @property
    def description(self) -> str: ...

    def query(
        self,
        text: str,
        *,
        parameters: Mapping[str, object],
        timespan: TimeRange | None,
        label: str,
        timeout: float | None = None,
    ) -> QueryOutcome:
        """*timeout*: seconds this query may take in all (retries included); None: the source's own limits."""
        ...

    def close(self) -> None: ...
