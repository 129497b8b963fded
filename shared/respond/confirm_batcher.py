"""Coalesce one run's confirmCompromised requests into calls of up to 60 users, one per Identity Protection slot.

Identity Protection allows one request per second per tenant, so confirming a
1,000-user incident one user per call takes 1,000 seconds; batched, it takes
seventeen. Cases in a run are answered concurrently and each asks to confirm
its own user; the batcher holds those asks until the limiter has a slot, then
sends everything waiting (up to :data:`CONFIRM_BATCH`) in one call. Each asker
gets the outcome of the call its user rode in, so a failed call fails exactly
those cases' steps and no other.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from shared.respond.graph_actions import CONFIRM_BATCH, GraphActions, WriteOutcome

__all__ = ["ConfirmBatcher", "ConfirmResult"]


@dataclass(frozen=True, kw_only=True)
class ConfirmResult:
    batch_size: int
    call: int
    """The run's call number this user rode in (1-based), for the audit detail."""
    outcome: WriteOutcome = field(default_factory=WriteOutcome)
    """Whether the call's lost answer was found applied instead of re-sent."""


@dataclass
class ConfirmBatcher:
    graph: GraphActions
    linger: float = 0.02
    """Seconds a partial batch waits for more asks once a slot is free: cases finishing together share a call."""
    _pending: list[tuple[str, asyncio.Future[ConfirmResult]]] = field(default_factory=list, init=False)
    _flusher: asyncio.Task[None] | None = field(default=None, init=False)
    calls: int = field(default=0, init=False)

    async def confirm(self, user_id: str) -> ConfirmResult:
        future: asyncio.Future[ConfirmResult] = asyncio.get_running_loop().create_future()
        self._pending.append((user_id, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        bucket = self.graph.limiters["identity_protection"]
        while self._pending:
            await bucket.ready()
            if len(self._pending) < CONFIRM_BATCH:
                await asyncio.sleep(self.linger)
            chunk, self._pending = self._pending[:CONFIRM_BATCH], self._pending[CONFIRM_BATCH:]
            self.calls += 1
            call = self.calls
            try:
                [outcome] = await self.graph.confirm_compromised(sorted({user for user, _ in chunk}))
            except Exception as exc:  # every asker in this call gets the failure; the rest are untouched
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in chunk:
                if not future.done():
                    future.set_result(ConfirmResult(batch_size=len(chunk), call=call, outcome=outcome))
