"""What the ``events`` trigger does with one event, whichever schema it came in.

- Key Vault key events (``KeyNewVersionCreated``, ``KeyNearExpiry``, ``KeyExpired``) on a customer's own
  token-signing keys: refresh every registered app's key cache
  (:func:`shared.respond.key_refresh.refresh_registered_apps`, keyed by the event id, so a redelivery skips the
  targets already refreshed), then rescan ``[now - SCAN_LOOKBACK, now)`` with every rule. If any target failed the
  refresh raises :class:`~shared.core.errors.UpstreamError` before the rescan, so Event Grid redelivers and the
  redelivery retries only the failed targets; the scan timer covers detection meanwhile.
- An Azure Monitor alert (common alert schema): scan the alert's window with the rule it is named after, or every
  rule when its name maps to none. A window missing from the alert is ``SCAN_LOOKBACK`` up to when it fired. A
  resolved alert is acknowledged without a scan.
- ``Tokenwarden.TokenAnomaly``: the finding goes straight into case building (``record_findings``).
- Anything else is acknowledged and logged; Event Grid would otherwise retry it for a day.

Malformed events raise :class:`~shared.core.errors.DataError` (from :func:`shared.intake.events.parse_event`, or
here for an alert window that is empty or too long); the adapter logs and acknowledges them. Every outcome names
the cases to hand to response in ``case_ids``; this module responds to none itself (the respond queue does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from shared.core.errors import DataError, UpstreamError
from shared.core.settings import Settings
from shared.ledger.connection import Ledger

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.intake.events import KeyVaultKeyEvent, MonitorAlert, TokenAnomaly
    from shared.jobs.window_scan import WindowScan

__all__ = ["MAX_ALERT_WINDOW", "DispatchResult", "EventKind", "dispatch_event"]

EventKind = Literal["key_vault", "monitor_alert", "token_anomaly", "unknown"]
MAX_ALERT_WINDOW = timedelta(days=2)
"""Longest alert window scanned; log alerts look back at most two days (``windowSize`` up to P2D)."""
_FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, kw_only=True)
class DispatchResult:
    """``kind``: the event's kind; ``action``: what was done (``refreshed_and_rescanned``, ``scanned``,
    ``recorded``, ``acknowledged``); ``case_ids``: cases to hand to response; ``detail``: JSON-able facts."""

    event_id: str
    kind: EventKind
    action: str
    case_ids: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)


def dispatch_event(envelope: object, settings: Settings, ledger: Ledger, *, now: datetime,
                   invocation_id: str = "", credential: TokenCredential | None = None) -> DispatchResult:
    """Parse *envelope* (a neutral dict from :func:`shared.intake.events.event_from_eventgrid` /
    :func:`~shared.intake.events.event_from_cloudevent`, or raw event JSON) and act on it.

    :raises DataError: the event is malformed (acknowledge it; a retry cannot fix it).
    :raises UpstreamError: an app's key cache could not be refreshed (let Event Grid redeliver).
    """
    from shared.detect.ruleset import load_rules
    from shared.intake.events import KeyVaultKeyEvent, MonitorAlert, TokenAnomaly, parse_event

    event = parse_event(envelope, rule_ids=load_rules().ids)
    if isinstance(event, KeyVaultKeyEvent):
        return _key_vault(event, settings, ledger, now=now, invocation_id=invocation_id, credential=credential)
    if isinstance(event, MonitorAlert):
        return _monitor_alert(event, settings, ledger, now=now)
    if isinstance(event, TokenAnomaly):
        return _token_anomaly(event, ledger, now=now)
    return DispatchResult(event_id=event.event_id, kind="unknown", action="acknowledged",
                          detail={"event_type": event.event_type, "source": event.source})


def _key_vault(event: KeyVaultKeyEvent, settings: Settings, ledger: Ledger, *, now: datetime, invocation_id: str,
               credential: TokenCredential | None) -> DispatchResult:
    from shared.detect.logsources.base import TimeRange
    from shared.respond.key_refresh import refresh_registered_apps

    reason = f"{event.event_type.rsplit('.', 1)[-1]}: {event.vault_name}/{event.object_name}/{event.version}"
    refresh = refresh_registered_apps(settings, ledger, kids=(), reason=reason, event_id_seed=f"event:{event.event_id}",
                                      now=now, case_prefix="keys", invocation_id=invocation_id, credential=credential)
    if refresh.failed:
        shown = "; ".join(f"{o.target}: {o.detail.get('error')}" for o in refresh.failed)
        raise UpstreamError(f"{event.event_type} {event.event_id}: {len(refresh.failed)} key-cache refresh(es) "
                            f"failed ({shown}); redelivery retries them")
    scanned = _scan(settings, ledger, TimeRange(start=now - settings.scan_lookback, end=now), None, now=now)
    return DispatchResult(event_id=event.event_id, kind="key_vault", action="refreshed_and_rescanned",
                          case_ids=scanned.case_ids,
                          detail={"key_id": event.key_id, "kind": event.kind, "refresh": refresh.to_json(),
                                  "scan": _scan_detail(scanned)})


def _monitor_alert(alert: MonitorAlert, settings: Settings, ledger: Ledger, *, now: datetime) -> DispatchResult:
    from shared.detect.logsources.base import TimeRange

    facts: dict[str, Any] = {"alert_id": alert.alert_id, "alert_rule": alert.rule_name, "rule_id": alert.rule_id,
                             "severity": alert.severity, "monitor_condition": alert.monitor_condition}
    if (alert.monitor_condition or "").lower() == "resolved":
        return DispatchResult(event_id=alert.event_id, kind="monitor_alert", action="acknowledged",
                              detail={**facts, "note": "resolved alert: nothing to scan"})
    end = min(alert.window_end or alert.fired_at or now, now)
    start = alert.window_start or end - settings.scan_lookback
    if alert.window_end is not None and alert.window_end > now + _FUTURE_SKEW:
        raise DataError(f"alert {alert.alert_id}: window ends in the future ({alert.window_end.isoformat()})")
    if start >= end:
        raise DataError(f"alert {alert.alert_id}: window [{start.isoformat()}, {end.isoformat()}) is empty")
    if end - start > MAX_ALERT_WINDOW:
        raise DataError(f"alert {alert.alert_id}: window of {end - start} is longer than {MAX_ALERT_WINDOW}; "
                        "run a backfill with POST /scan instead")
    rule_ids = [alert.rule_id] if alert.rule_id else None
    scanned = _scan(settings, ledger, TimeRange(start=start, end=end), rule_ids, now=now)
    return DispatchResult(event_id=alert.event_id, kind="monitor_alert", action="scanned", case_ids=scanned.case_ids,
                          detail={**facts, "scan": _scan_detail(scanned)})


def _token_anomaly(anomaly: TokenAnomaly, ledger: Ledger, *, now: datetime) -> DispatchResult:
    from shared.ledger.recorder import record_findings

    recorded = record_findings(ledger, [anomaly.finding], now=now)
    case_ids = recorded.cases_to_queue
    return DispatchResult(event_id=anomaly.event_id, kind="token_anomaly", action="recorded", case_ids=case_ids,
                          detail={"reason": anomaly.reason, "app_id": anomaly.finding.app_id,
                                  "key_id": anomaly.finding.key_id, "findings_new": recorded.findings_new,
                                  "cases": [c.case_id for c in recorded.changes]})


def _scan(settings: Settings, ledger: Ledger, window: Any, rule_ids: list[str] | None, *,
          now: datetime) -> WindowScan:
    from shared.jobs.window_scan import scan_window_into

    return scan_window_into(settings, ledger, window=window, rule_ids=rule_ids, now=now)


def _scan_detail(scanned: WindowScan) -> dict[str, Any]:
    report = scanned.report
    return {"since": report.window.start.isoformat(), "until": report.window.end.isoformat(),
            "rules": [r.rule_id for r in report.runs], "complete": report.complete,
            "problems": [f"{r.rule_id} {r.status}: {r.message}" for r in report.runs if r.status != "complete"],
            "findings": len(report.findings), "findings_new": scanned.recorded.findings_new,
            "warnings": list(report.warnings)}
