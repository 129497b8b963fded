"""Build the response engine a trigger runs, from settings: every integration that is configured, and only those.

Each trigger invocation gets its own engine (clients are cheap next to a response,
and an invocation must not share token buckets with one on another instance in a
way that pretends to coordinate them). The blast radius counts what the Actions
table says was acted on in the last hour, so the hourly limit holds across
invocations and instances.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shared.ledger.connection import Ledger
from shared.respond.actions import ActionStore
from shared.respond.engine import ResponseEngine
from shared.respond.guardrails import BlastRadius, Guardrails
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.policy.model import Policy

__all__ = ["build_engine"]


@asynccontextmanager
async def build_engine(settings: Settings, ledger: Ledger, *, invocation_id: str, now: datetime,
                       credential: TokenCredential | None = None, policy: Policy | None = None,
                       actor: str = "tokenwarden", mode: str | None = None) -> AsyncIterator[ResponseEngine]:
    """An engine wired to Graph, ARM (incidents, restarts), Event Grid, blob and the webhook; closed on exit.

    *mode* narrows the configured response mode for one call (an operator's dry run); it can never widen it.
    """
    from pathlib import Path

    from shared.credentials import credential_for
    from shared.enrich.graph import build_graph_client
    from shared.policy.loader import load_policy
    from shared.respond.arm_client import ArmClient
    from shared.respond.graph_actions import GraphActions
    from shared.respond.ratelimit import limiters
    from shared.respond.retry import RetryPolicy

    credential = credential or credential_for(settings)
    rails = Guardrails.from_settings(settings)
    if mode is not None:
        rails = rails.narrowed(mode)
    retry = RetryPolicy()
    graph = GraphActions(build_graph_client(credential, base_url=f"{settings.graph_endpoint}/v1.0",
                                            scopes=(settings.cloud.graph_scope,), sdk_retries=False),
                         limiters=limiters(), retry=retry)
    async with AsyncExitStack() as stack:
        arm = await stack.enter_async_context(ArmClient(credential, endpoint=settings.arm_endpoint, retry=retry,
                                                        scope=settings.cloud.arm_scope))
        incidents = None
        if settings.sentinel_workspace_resource_id:
            from shared.respond.sentinel import SentinelIncidents

            incidents = SentinelIncidents(arm, settings.sentinel_workspace_resource_id)
        key_cache = None
        if settings.cache_refresh_apps:
            from shared.respond.key_cache import KeyCacheRefresher

            key_cache = await stack.enter_async_context(KeyCacheRefresher.from_settings(settings, credential, arm=arm,
                                                                                        retry=retry))
        publisher = None
        if settings.storage_connection_string or settings.blob_service_uri:
            from shared.respond.untrusted_keys import UntrustedKeyPublisher

            publisher = await stack.enter_async_context(UntrustedKeyPublisher.from_settings(settings, credential,
                                                                                            retry=retry))
        notifier = None
        if settings.notify_webhook_url:
            from shared.respond.notify import Notifier

            notifier = await stack.enter_async_context(Notifier(settings.notify_webhook_url, retry=retry))
        from shared.audit.ingestion import AuditSink

        audit = AuditSink.from_settings(settings, credential, retry=retry)
        if audit is not None:  # entered last, closed first: it flushes while the other clients are still open
            await stack.enter_async_context(audit)
        acted = ActionStore(ledger.actions).principals_actioned_since(now - timedelta(hours=1))
        yield ResponseEngine(
            ledger=ledger, guardrails=rails, graph=graph, invocation_id=invocation_id, actor=actor,
            policy=policy or load_policy(Path(settings.triage_policy_file) if settings.triage_policy_file else None),
            blast=BlastRadius(rails, actioned_this_hour=acted), key_cache=key_cache, incidents=incidents,
            notifier=notifier, publisher=publisher, on_record=audit)
