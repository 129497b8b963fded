"""Per-area route handlers. Each module has ``register(router)``; new areas add a module and a line here."""

from __future__ import annotations

from shared.devkit.simulator.handlers import (
    batch,
    directory_roles,
    identity_protection,
    service_principals,
    users,
    writes,
)
from shared.devkit.simulator.routing import Router

__all__ = ["default_router"]


def default_router() -> Router:
    """The Graph v1.0 routes the simulator serves."""
    router = Router()
    for area in (users, directory_roles, service_principals, identity_protection, writes, batch):
        area.register(router)
    return router
