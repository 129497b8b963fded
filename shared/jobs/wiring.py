"""Everything a job runs, built from settings in one place: the log source, key intelligence, the hunt context
and the response engine, with every integration that is configured, and only those.

The triggers, the CLI and the demo all build through here, so a setting means the same thing in each.

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
from pathlib import Path
from typing import TYPE_CHECKING

from shared.core.settings import Settings
from shared.detect.hunt import HuntContext
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import LogSource
from shared.ledger.connection import Ledger
from shared.respond.actions import ActionStore
from shared.respond.engine import ResponseEngine
from shared.respond.guardrails import BlastRadius, Guardrails

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.cases.policy.model import Policy

__all__ = ["build_engine", "build_hunt_context", "build_key_intelligence", "build_log_source"]


def build_key_intelligence(settings: Settings) -> KeyIntelligence:
    from shared.detect.keys.compromised import load_compromised_keys
    from shared.detect.keys.discovery import JwksFetcher, default_discovery_urls
    from shared.detect.keys.jwks import PublishedKey, read_jwks_file

    files = [source for source in settings.key_sources if not source.startswith(("https://", "http://"))]
    urls = [source for source in settings.key_sources if source.startswith(("https://", "http://"))]
    if not settings.key_sources:
        urls = default_discovery_urls(settings.entra_tenant_id or None, settings.cloud.authority_host)
    published: list[PublishedKey] = [key for path in files for key in read_jwks_file(Path(path))]
    failures: tuple[str, ...] = ()
    if urls:
        outcome = JwksFetcher().fetch_all(urls)
        published.extend(outcome.keys)
        failures = outcome.failures
    return KeyIntelligence(published=tuple(published),
                           compromised=load_compromised_keys(settings.extra_compromised_keys),
                           failures=failures)


def build_log_source(settings: Settings) -> LogSource:
    """The embedded workspace over ``LOCAL_LOGS_DIR`` when set; else the database ``ADX_DATABASE`` of the Azure
    Data Explorer cluster ``ADX_CLUSTER_URI`` when that is set; otherwise the workspace
    ``LOG_ANALYTICS_WORKSPACE_ID`` at ``LOG_ANALYTICS_ENDPOINT``.

    A loopback endpoint or cluster is a local stand-in (``tokenwarden workspace serve``, duckdb-kql's Kusto
    server), which accepts any bearer token: it gets the fixed local token, so no identity endpoint is called
    and no real token is sent to it. Anything else gets the source's own ``DefaultAzureCredential`` (the
    managed identity in Azure). The CLI's hunt builds its source here too, from the settings its options give.
    """
    if settings.local_logs_dir:
        from shared.detect.logsources.local import LocalWorkspace

        return LocalWorkspace.from_exports(Path(settings.local_logs_dir))
    from shared.core.credentials import source_credential
    from shared.core.errors import ConfigurationError

    if settings.adx_cluster_uri:
        from shared.detect.logsources.adx import AdxSource

        return AdxSource(settings.adx_cluster_uri, settings.adx_database,
                         credential=source_credential(settings.adx_cluster_uri))
    from shared.detect.logsources.log_analytics import LogAnalyticsSource

    if not settings.workspace_id:
        raise ConfigurationError("LOG_ANALYTICS_WORKSPACE_ID is not set (or set ADX_CLUSTER_URI, or LOCAL_LOGS_DIR "
                                 "for local runs)")
    endpoint = settings.log_analytics_endpoint
    return LogAnalyticsSource(workspace_id=settings.workspace_id, endpoint=endpoint,
                              credential=source_credential(endpoint))


def build_hunt_context(settings: Settings) -> HuntContext:
    from shared.detect.apps import read_apps_file

    apps = read_apps_file(Path(settings.app_catalog_file)) if settings.app_catalog_file else None
    return HuntContext(keys=build_key_intelligence(settings), apps=apps,
                       graph_allowlist_apps=settings.graph_allowlist_apps)


@asynccontextmanager
async def build_engine(settings: Settings, ledger: Ledger, *, invocation_id: str, now: datetime,
                       credential: TokenCredential | None = None, policy: Policy | None = None,
                       actor: str = "tokenwarden", mode: str | None = None) -> AsyncIterator[ResponseEngine]:
    """An engine wired to Graph, ARM (incidents, restarts), Event Grid, blob and the webhook; closed on exit.

    *mode* narrows the configured response mode for one call (an operator's dry run); it can never widen it.
    """

    from shared.cases.enrich.graph import build_graph_client
    from shared.cases.policy.loader import load_policy
    from shared.core.credentials import credential_for
    from shared.respond.transport.arm_client import ArmClient
    from shared.respond.transport.graph_actions import GraphActions
    from shared.respond.transport.ratelimit import limiters
    from shared.respond.transport.retry import RetryPolicy

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
            from shared.respond.steps.sentinel import SentinelIncidents

            incidents = SentinelIncidents(arm, settings.sentinel_workspace_resource_id)
        key_cache = None
        if settings.cache_refresh_apps:
            from shared.respond.steps.key_cache import KeyCacheRefresher

            key_cache = await stack.enter_async_context(KeyCacheRefresher.from_settings(settings, credential, arm=arm,
                                                                                        retry=retry))
        publisher = None
        if settings.storage_connection_string or settings.blob_service_uri:
            from shared.respond.steps.untrusted_keys import UntrustedKeyPublisher

            publisher = await stack.enter_async_context(UntrustedKeyPublisher.from_settings(settings, credential,
                                                                                            retry=retry))
        notifier = None
        if settings.notify_webhook_url:
            from shared.respond.steps.notify import Notifier

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
