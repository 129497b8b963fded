"""Serve an ASGI app with uvicorn on a loopback port the OS picks, in a thread, and always stop it.

Used by the sensor's tests, its demo and its bench (all real HTTP against a real server)::

    with serving_asgi(app) as url:
        httpx.get(f"{url}/orders")
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["serving_asgi"]


@contextmanager
def serving_asgi(app: Any, *, log_level: str = "warning") -> Iterator[str]:
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level=log_level, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped before it started serving")
            thread.join(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
