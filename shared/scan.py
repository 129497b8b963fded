"""The scheduled scan: build the log source and key intelligence from settings, hunt, return the report.

Everything environment-specific is decided here from :class:`Settings`, so the
timer adapter stays a few lines and tests drive the same path with their own
settings.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shared.hunt import HuntContext, HuntReport, run_hunt
from shared.keys.intel import KeyIntelligence
from shared.logsources.base import LogSource, TimeRange
from shared.settings import Settings

__all__ = ["build_key_intelligence", "build_log_source", "run_scan"]


def build_key_intelligence(settings: Settings) -> KeyIntelligence:
    from shared.keys.compromised import load_compromised_keys
    from shared.keys.discovery import JwksFetcher, default_discovery_urls
    from shared.keys.jwks import PublishedKey, read_jwks_file

    files = [source for source in settings.key_sources if not source.startswith(("https://", "http://"))]
    urls = [source for source in settings.key_sources if source.startswith(("https://", "http://"))]
    if not settings.key_sources:
        urls = default_discovery_urls(settings.entra_tenant_id or None)
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
    if settings.local_logs_dir:
        from shared.logsources.local import LocalWorkspace

        return LocalWorkspace.from_exports(Path(settings.local_logs_dir))
    from shared.errors import ConfigurationError
    from shared.logsources.log_analytics import LogAnalyticsSource

    if not settings.workspace_id:
        raise ConfigurationError("LOG_ANALYTICS_WORKSPACE_ID is not set (or set LOCAL_LOGS_DIR for local runs)")
    return LogAnalyticsSource(workspace_id=settings.workspace_id)


def run_scan(settings: Settings, *, now: datetime) -> HuntReport:
    """Hunt the last ``SCAN_LOOKBACK`` before *now* with every rule."""
    from shared.apps import read_apps_file
    from shared.ruleset import load_rules

    apps = read_apps_file(Path(settings.app_catalog_file)) if settings.app_catalog_file else None
    context = HuntContext(keys=build_key_intelligence(settings), apps=apps,
                          graph_allowlist_apps=settings.graph_allowlist_apps)
    source = build_log_source(settings)
    try:
        return run_hunt(source, load_rules(), window=TimeRange(start=now - settings.scan_lookback, end=now),
                        context=context)
    finally:
        source.close()
