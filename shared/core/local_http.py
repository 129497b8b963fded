"""What the local servers (the Log Analytics endpoint, the tenant simulator) share as HTTP servers.

Both serve SDK clients that keep connections alive and drop them when they are
done, sometimes with a reset. That is how clients end, not a server failure, so
it is not worth a traceback on stderr; anything else still gets one.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any, TypeVar

__all__ = ["LocalHTTPServer", "serve_until_interrupted"]

S = TypeVar("S", bound=ThreadingHTTPServer)


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    server_address: tuple[str, int] | tuple[str, int, int, int]

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionResetError | BrokenPipeError):
            return
        super().handle_error(request, client_address)


def serve_until_interrupted(server: S, ready: Callable[[S], None] | None) -> None:
    """Serve until Ctrl-C, then close; ``ready`` is told the bound server first."""
    with server:
        if ready is not None:
            ready(server)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
