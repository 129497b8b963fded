"""The one check every local server makes before it binds: loopback addresses only.

The local Log Analytics endpoint and the Graph simulator answer without real
authentication; binding either to a routable address would publish a tenant's
logs or directory, so both refuse anything that is not loopback.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from shared.core.errors import ConfigurationError

__all__ = ["is_loopback", "require_tls", "uses_tls"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uses_tls(url: str) -> bool | None:
    """True for an https URL; False for plain http on loopback (the local simulators, the only place a bearer
    token may travel without TLS); None for anything else, which no client may call."""
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    if parts.scheme == "https":
        return True
    return False if parts.scheme == "http" and is_loopback(parts.hostname) else None


def require_tls(url: str, name: str) -> bool:
    """:func:`uses_tls`, refusing anything else with a one-line error naming the setting or target."""
    tls = uses_tls(url)
    if tls is None:
        raise ConfigurationError(f"{name} {url!r} must be https (plain http only on loopback)")
    return tls
