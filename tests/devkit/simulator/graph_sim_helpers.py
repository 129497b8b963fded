"""Helpers for the simulator tests: a static credential and a real msgraph-sdk client pointed at a simulator.

``graph_client`` is the recipe for production-like tests: the SDK's own
middleware pipeline (retry, redirect, telemetry, ...) with the retry handler's
base delay lowered, and the request adapter's base URL set to the simulator.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from azure.core.credentials import AccessToken

from shared.devkit.simulator import SimulatorServer


class StaticCredential:
    """A TokenCredential that hands out one fixed token; the simulator accepts any non-empty bearer."""

    def __init__(self, token: str = "simulator-token") -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def graph_client(server: SimulatorServer, *, max_retries: int = 3, delay: float = 0.0,
                 timeout: float | None = None, credential: StaticCredential | None = None) -> Any:
    """A ``GraphServiceClient`` talking to ``server``; build it inside the event loop that will use it."""
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from kiota_http.middleware.options import RetryHandlerOption
    from msgraph import GraphServiceClient
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_request_adapter import options as graph_options
    from msgraph_core import GraphClientFactory

    retry = RetryHandlerOption(delay=delay, max_retries=max_retries)
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout)) if timeout is not None else None
    http_client = GraphClientFactory.create_with_default_middleware(
        client=client, options={**graph_options, RetryHandlerOption.get_key(): retry})
    auth = AzureIdentityAuthenticationProvider(credential or StaticCredential(),
                                               scopes=["https://graph.microsoft.com/.default"])
    adapter = GraphRequestAdapter(auth, client=http_client)
    adapter.base_url = server.graph_url
    return GraphServiceClient(request_adapter=adapter)
