"""The credential response steps and enrichment sign their requests with.

In Azure that is the Function App's managed identity (``AZURE_CLIENT_ID`` names
the user-assigned one; azure-identity reads it itself). When every endpoint is a
loopback address the targets are the local simulators, which accept any bearer
token as Entra would accept the app's identity, so a fixed local token is used
and no identity endpoint is ever called.
"""

from __future__ import annotations

import base64
import json
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.core.loopback import is_loopback
from shared.core.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

__all__ = ["LocalCredential", "credential_for", "is_local", "local_token", "source_credential"]


class LocalCredential:
    """Bearer tokens for the local simulators; never used against a non-loopback endpoint.

    Shaped like Entra's (an unsigned JWT) with ``aud`` set to the resource the scope names, so a simulator
    can refuse a token minted for another service, as Event Grid and Logs Ingestion do.
    """

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken(local_token(scopes[0] if scopes else ""), int(time.time()) + 3600)

    def close(self) -> None:
        """Nothing to release; here because clients that own a credential close it (azure-kusto-data does)."""


def local_token(scope: str) -> str:
    """An unsigned JWT whose ``aud`` is *scope* without ``/.default``: what the simulators read audiences from."""

    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return ".".join((part({"alg": "none", "typ": "JWT"}),
                     part({"aud": scope.removesuffix("/.default"), "iss": "tokenwarden-local"}), "unsigned"))


def is_local(settings: Settings) -> bool:
    endpoints = [settings.graph_endpoint, settings.arm_endpoint]
    return all(is_loopback(urlsplit(url).hostname or "") for url in endpoints)


def credential_for(settings: Settings) -> TokenCredential:
    if is_local(settings):
        return LocalCredential()
    from azure.identity import DefaultAzureCredential

    # The authority is AZURE_CLOUD's (a managed identity ignores it; developer credentials do not).
    return DefaultAzureCredential(exclude_interactive_browser_credential=True,
                                  authority=settings.cloud.authority_host)


def source_credential(url: str) -> TokenCredential | None:
    """What a log source at *url* signs with: the local token for a loopback stand-in (``workspace serve``,
    a local Kusto server), which must never receive a real one; None otherwise, so the source creates its own
    ``DefaultAzureCredential`` on first use (the managed identity in Azure)."""
    return LocalCredential() if is_loopback(urlsplit(url).hostname or "") else None
