"""Which windows a rule scans next, from its watermark: overlapped, delayed, chunked and bounded.

Each rule scans the rows that *arrived* (``ingestion_time()``) in ``[watermark - SCAN_OVERLAP,
now - INGESTION_DELAY)``, so a row that reaches the workspace hours after it happened is read when it
arrives (see :mod:`shared.detect.ingestion_delay`). The overlap re-reads the rows at a window's edge, whose
arrival the service may still be committing (the ledger deduplicates what it re-reads); the delay leaves
rows still being ingested to a later scan. A rule with no watermark yet starts ``SCAN_LOOKBACK`` before
that end.

The span is cut into contiguous chunks of at most ``SCAN_MAX_CHUNK``, and one invocation runs at most
``SCAN_MAX_CHUNKS`` of them, oldest first. The watermark advances to each chunk's end once its
findings are stored, so a missed or past-due timer, or a long outage, is caught up without a gap and
without an unbounded query; what one invocation cannot reach, the next continues from the watermark.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.core.errors import ConfigurationError
from shared.core.settings import Settings
from shared.core.timeparse import format_duration
from shared.detect.logsources.base import TimeRange

__all__ = ["ScanPolicy", "WindowPlan", "plan_windows"]


@dataclass(frozen=True, kw_only=True)
class ScanPolicy:
    overlap: timedelta = timedelta(minutes=10)
    ingestion_delay: timedelta = timedelta(minutes=5)
    max_chunk: timedelta = timedelta(hours=1)
    max_chunks: int = 24
    initial_lookback: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        for name in ("overlap", "ingestion_delay", "initial_lookback"):
            if getattr(self, name) < timedelta(0):
                raise ConfigurationError(f"scan {name.replace('_', ' ')} must not be negative")
        if self.max_chunk <= timedelta(0):
            raise ConfigurationError("SCAN_MAX_CHUNK must be longer than 0")
        if self.max_chunks < 1:
            raise ConfigurationError("SCAN_MAX_CHUNKS must be at least 1")
        if self.max_chunk <= self.overlap:
            # The first chunk starts SCAN_OVERLAP before the watermark: a chunk no longer than that
            # would end at or before it, and the scan would never advance.
            raise ConfigurationError(
                f"SCAN_MAX_CHUNK ({format_duration(self.max_chunk)}) must be longer than SCAN_OVERLAP "
                f"({format_duration(self.overlap)}), or a scan could never advance"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> ScanPolicy:
        return cls(overlap=settings.scan_overlap, ingestion_delay=settings.ingestion_delay,
                   max_chunk=settings.scan_max_chunk, max_chunks=settings.scan_max_chunks,
                   initial_lookback=settings.scan_lookback)


@dataclass(frozen=True, kw_only=True)
class WindowPlan:
    """The chunks to scan now, and the end they aim for. ``caught_up``: the chunks reach it."""

    watermark: datetime | None
    target: datetime
    windows: tuple[TimeRange, ...]

    @property
    def caught_up(self) -> bool:
        return not self.windows or self.windows[-1].end >= self.target


def plan_windows(watermark: datetime | None, *, now: datetime, policy: ScanPolicy) -> WindowPlan:
    """The windows a rule with *watermark* scans at *now*; none when nothing new has settled."""
    if now.tzinfo is None or (watermark is not None and watermark.tzinfo is None):
        raise ValueError("plan_windows needs timezone-aware times")
    target = now - policy.ingestion_delay
    if watermark is None:
        start = target - policy.initial_lookback
    elif watermark >= target:
        return WindowPlan(watermark=watermark, target=target, windows=())
    else:
        start = watermark - policy.overlap
    windows: list[TimeRange] = []
    while start < target and len(windows) < policy.max_chunks:
        end = min(start + policy.max_chunk, target)
        windows.append(TimeRange(start=start, end=end))
        start = end
    return WindowPlan(watermark=watermark, target=target, windows=tuple(windows))
