"""The ledger's own worker threads, for async code that calls the (synchronous) Table Storage client.

asyncio's default pool has ``cpu + 4`` threads (six on a 2-core Functions worker), so with 64 cases in flight
the ledger's round trips queued for a thread, not for the network: on a busy machine the ledger, not Graph's
limit, set the pace of a large incident. Each of these threads waits on Table Storage; none computes.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["LEDGER_THREADS", "in_ledger_thread"]

LEDGER_THREADS = 32
"""Worker threads for ledger calls (the response engine answers up to 64 cases at once)."""

T = TypeVar("T")


@functools.cache
def _ledger_pool() -> ThreadPoolExecutor:
    """One pool per process for every engine's ledger calls (engines are short-lived; the pool is not)."""
    return ThreadPoolExecutor(max_workers=LEDGER_THREADS, thread_name_prefix="tokenwarden-ledger")


async def in_ledger_thread(call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run one ledger call in the ledger's thread pool (what ``asyncio.to_thread`` does in the default one)."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    return await loop.run_in_executor(_ledger_pool(), functools.partial(context.run, call, *args, **kwargs))
