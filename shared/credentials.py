"""The credential response steps and enrichment sign their requests with.

In Azure that is the Function App's managed identity (``AZURE_CLIENT_ID`` names
the user-assigned one; azure-identity reads it itself). When every endpoint is a
loopback address the targets are the local simulators, which accept any bearer
token as Entra would accept the app's identity, so a fixed local token is used
and no identity endpoint is ever called.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shared.loopback import is_loopback
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

__all__ = ["LocalCredential", "credential_for", "is_local"]


class LocalCredential:
    """A fixed bearer token for the local simulators; never used against a non-loopback endpoint."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        from azure.core.credentials import AccessToken

        return AccessToken("tokenwarden-local", int(time.time()) + 3600)


def is_local(settings: Settings) -> bool:
    endpoints = [settings.graph_endpoint, settings.arm_endpoint]
    return all(is_loopback(urlsplit(url).hostname or "") for url in endpoints)


def credential_for(settings: Settings) -> TokenCredential:
    if is_local(settings):
        return LocalCredential()
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)
