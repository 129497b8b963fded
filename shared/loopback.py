"""The one check every local server makes before it binds: loopback addresses only.

The local Log Analytics endpoint and the Graph simulator answer without real
authentication; binding either to a routable address would publish a tenant's
logs or directory, so both refuse anything that is not loopback.
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
