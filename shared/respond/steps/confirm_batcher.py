"""Coalesce one run's confirmCompromised requests into calls of up to 60 users, one per Identity Protection slot.

Identity Protection allows one request per second per tenant, so confirming a
1,000-user incident one user per call takes 1,000 seconds; batched, it takes
seventeen. Cases in a run are answered concurrently and each asks to confirm
its own user; the batcher holds those asks until the limiter has a slot, then
sends everything waiting (up to :data:`CONFIRM_BATCH`) in one call. Each asker
gets the outcome of the call its user rode in, so a failed call fails exactly
those cases' steps and no other. The call takes object ids only, so UPNs are
resolved first; a user Graph does not know, or an id it refuses (400/404), fails
its own case alone: the call is halved until the refused id is on its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from shared.core.errors import TokenwardenError, UpstreamError
from shared.respond.transport.graph_actions import CONFIRM_BATCH, GraphActions, WriteOutcome

__all__ = ["ConfirmBatcher", "ConfirmResult"]

_PER_PRINCIPAL = frozenset({400, 404})
"""Statuses with which Graph refuses a call for one of its user ids; throttling and permission errors are not."""


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
            # The call takes object ids only: resolve UPNs first. A user that cannot be resolved fails alone.
            ids: dict[str, list[asyncio.Future[ConfirmResult]]] = {}
            resolved = await asyncio.gather(*(self.graph.resolve_user_id(user) for user, _ in chunk),
                                            return_exceptions=True)
            for (user, future), outcome in zip(chunk, resolved, strict=True):
                if isinstance(outcome, BaseException):
                    _settle(future, outcome)
                elif outcome is None:
                    _settle(future, TokenwardenError(f"user {user} does not exist; nothing to confirm"))
                else:
                    ids.setdefault(outcome, []).append(future)
            if ids:
                await self._confirm(sorted(ids), ids, batch_size=len(chunk))

    async def _confirm(self, user_ids: list[str], futures: dict[str, list[asyncio.Future[ConfirmResult]]], *,
                       batch_size: int) -> None:
        """One call for *user_ids*; when Graph refuses the call for its content (400, 404), halve it until the
        principals it refuses are alone, so one bad id fails itself and not the other 59."""
        self.calls += 1
        call = self.calls
        try:
            [outcome] = await self.graph.confirm_compromised(user_ids)
        except Exception as exc:
            if isinstance(exc, UpstreamError) and exc.status in _PER_PRINCIPAL and len(user_ids) > 1:
                middle = len(user_ids) // 2
                await self._confirm(user_ids[:middle], futures, batch_size=batch_size)
                await self._confirm(user_ids[middle:], futures, batch_size=batch_size)
                return
            for user in user_ids:  # every asker in this call gets the failure; the rest are untouched
                for future in futures[user]:
                    _settle(future, exc)
            return
        for user in user_ids:
            for future in futures[user]:
                if not future.done():
                    future.set_result(ConfirmResult(batch_size=batch_size, call=call, outcome=outcome))


def _settle(future: asyncio.Future[ConfirmResult], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
