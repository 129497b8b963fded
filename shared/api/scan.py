"""``POST /scan``: run the rules over a window an operator names, a manual check or a backfill.

The window is validated (a zone on both ends, ``since`` before ``until``, at most :data:`MAX_WINDOW`, not
in the future, not before :data:`EARLIEST`) and the rules must exist. The hunt runs once over the whole
window, as ``tokenwarden hunt --since --until`` does (:func:`shared.detect.hunt.run_hunt`). A dry run returns the
findings and stores nothing; otherwise they are recorded in the ledger (findings deduplicated, cases
opened or updated: :func:`shared.ledger.recorder.record_findings`). The scan timer's checkpoints are
never read or moved, so a backfill cannot make the timer skip or repeat a window.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.http import ApiCall, parse_body
from shared.api.models import FindingModel, RuleRunModel, ScanRecorded, ScanRequest, ScanResponse
from shared.core.timeparse import supported_instant

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.detect.hunt import HuntReport

__all__ = ["EARLIEST", "MAX_FUTURE_SKEW", "MAX_RESPONSE_FINDINGS", "MAX_WINDOW", "run_manual_scan", "scan_window"]

MAX_WINDOW = timedelta(days=31)
MAX_FUTURE_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2015, 1, 1, tzinfo=UTC)
"""No Entra log a workspace holds is older; earlier times only make the reach-back arithmetic overflow."""
MAX_RESPONSE_FINDINGS = 1000


def _out_of_range(field: str, message: str) -> ApiError:
    """400: the time parsed, but neither Tokenwarden nor Kusto can compute with it (shared/core/timeparse.py)."""
    return ApiError(400, "date_out_of_range", f"body.{field}: {message}",
                    details=[{"loc": f"body.{field}", "msg": "outside the supported range"}])


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_body", f"body.{field}: {message}", details=[{"loc": f"body.{field}", "msg": message}])


def check_window(request: ScanRequest, *, now: datetime) -> tuple[datetime, datetime]:
    """The window in UTC, or a 422 naming what is wrong with it."""
    try:
        since = supported_instant(request.since)
    except ValueError as exc:
        raise _out_of_range("since", str(exc)) from None
    try:
        until = supported_instant(request.until)
    except ValueError as exc:
        raise _out_of_range("until", str(exc)) from None
    if since < EARLIEST:
        raise _invalid("since", f"must not be before {EARLIEST.date().isoformat()}")
    if until <= since:
        raise _invalid("until", "must be after since")
    if until - since > MAX_WINDOW:
        raise _invalid("until", f"the window may be at most {MAX_WINDOW.days} days long")
    if until > now + MAX_FUTURE_SKEW:
        raise _invalid("until", "must not be in the future")
    return since, until


def _check_rules(requested: list[str]) -> list[str] | None:
    from shared.detect.ruleset import load_rules

    known = set(load_rules().ids)
    unknown = [rule for rule in dict.fromkeys(requested) if rule not in known]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise _invalid("rules", f"unknown rule id(s): {shown}; GET the rule list with `tokenwarden rules`")
    return list(dict.fromkeys(requested)) or None


def scan_window(request: ScanRequest, settings: Settings, *, now: datetime) -> ScanResponse:
    """Validate, hunt the window, and record unless it is a dry run."""
    from shared.detect.logsources.base import TimeRange
    from shared.jobs.window_scan import hunt_window

    since, until = check_window(request, now=now)
    report = hunt_window(settings, window=TimeRange(start=since, end=until), rule_ids=_check_rules(request.rules))
    recorded = None if request.dry_run else _record(report, settings, now=now)
    return _response(report, request, since=since, until=until, recorded=recorded)


def _record(report: HuntReport, settings: Settings, *, now: datetime) -> ScanRecorded:
    from shared.ledger import connection
    from shared.ledger.recorder import record_findings

    ledger = connection.open_ledger(settings)
    try:
        result = record_findings(ledger, report.findings, now=now)
    finally:
        ledger.close()
    return ScanRecorded(
        findings_new=result.findings_new, findings_merged=result.findings_merged,
        findings_unchanged=result.findings_unchanged,
        cases_created=[c.case_id for c in result.changes if c.created],
        cases_updated=[c.case_id for c in result.changes if not c.created and (c.refs_added or c.severity_raised)],
    )


def _response(report: HuntReport, request: ScanRequest, *, since: datetime, until: datetime,
              recorded: ScanRecorded | None) -> ScanResponse:
    return ScanResponse(
        dry_run=request.dry_run, since=since, until=until, source=report.source, complete=report.complete,
        runs=[RuleRunModel(rule_id=r.rule_id, status=r.status, findings=r.findings,
                           elapsed_seconds=round(r.elapsed_seconds, 3), message=r.message) for r in report.runs],
        findings=[FindingModel.model_validate(f.to_json()) for f in report.findings[:MAX_RESPONSE_FINDINGS]],
        findings_total=len(report.findings), findings_truncated=len(report.findings) > MAX_RESPONSE_FINDINGS,
        warnings=list(report.warnings), recorded=recorded,
    )


def run_manual_scan(call: ApiCall, settings: Settings, *, now: datetime | None = None) -> ScanResponse:
    """``POST /scan``: the body is a :class:`ScanRequest`."""
    request = parse_body(call.request, ScanRequest)
    return scan_window(request, settings, now=now or datetime.now(UTC))
