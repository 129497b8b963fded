"""One entry point per trigger: what a Function invocation does around its job, so the adapters stay thin.

An adapter in ``functions/`` parses nothing it need not, calls one function here with the process
environment and the trigger's fields, and outputs what it gets back (the respond-queue messages). Each entry
point reads the settings, opens the ledger (and closes it however the job ends), runs one job from this
package, and logs its outcome under the trigger's logger (``tokenwarden.<trigger>``), the lines operators
and alerts read. The adapters import this module inside their bodies, so nothing here is on the cold path.

HTTP routes are not here: each is one :func:`shared.api.http.handle_configured` call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

from shared.core.errors import DataError, TokenwardenError
from shared.core.settings import Settings, load_settings
from shared.ledger import connection
from shared.ledger.connection import Ledger
from shared.respond.work_queue import WorkItem, parse_work_item

__all__ = ["on_event", "on_key_drift_timer", "on_respond_message", "on_respond_poison", "on_scan_timer",
           "start_telemetry"]

_scan_log = logging.getLogger("tokenwarden.scan")
_respond_log = logging.getLogger("tokenwarden.respond")
_events_log = logging.getLogger("tokenwarden.events")
_key_drift_log = logging.getLogger("tokenwarden.key_drift")


def start_telemetry(environ: Mapping[str, str]) -> None:
    """Export ``tokenwarden.*`` logs (the audit trail among them) to App Insights when that is configured.

    Once per process and cheap after that; nothing is imported unless it configures (shared/audit/telemetry.py).
    Every ``tokenwarden.*`` record's message is first scrubbed of credentials and kept to one line
    (shared/core/safetext.py), so caller text can neither leak a token nor forge a log line.
    """
    from shared.audit.telemetry import configure_telemetry
    from shared.core.safetext import install_log_scrubber

    install_log_scrubber()
    configure_telemetry(environ)


@contextmanager
def _settings_and_ledger(environ: Mapping[str, str]) -> Iterator[tuple[Settings, Ledger]]:
    """The settings and an open ledger for one invocation; the ledger is closed however the job ends.

    ``open_ledger`` is looked up on its module when called, as the adapters' lazy imports did, so the trigger
    tests can point it at their own tables (tests/support/function_env.py).
    """
    settings = load_settings(environ)
    ledger = connection.open_ledger(settings)
    try:
        yield settings, ledger
    finally:
        ledger.close()


def _compact(value: object) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def on_scan_timer(environ: Mapping[str, str], *, past_due: bool) -> list[str]:
    """Run the rules from their checkpoints (:func:`shared.jobs.scan.run_scan`); the respond-queue messages for
    each case needing work, and for each case whose outbox mark went stale."""
    from shared.jobs.scan import run_scan
    from shared.jobs.time_budget import ScanBudget

    if past_due:
        _scan_log.warning("scan timer is past due; scanning from the checkpoints now")
    now = datetime.now(UTC)
    report = run_scan(load_settings(environ), now=now, budget=ScanBudget.from_host())
    for finding in report.findings:
        _scan_log.warning("finding %s", _compact(finding.to_json()))
    for run in report.runs:
        if run.status != "complete":
            _scan_log.error("rule %s %s: %s", run.rule_id, run.status, run.message)
    for warning in report.warnings:
        _scan_log.info("note: %s", warning)
    items = report.work_items()
    requeued = [item for item in items if item.reason == "scan:requeue"]
    _scan_log.info("scan complete: %d findings from %d rules; %d case(s) queued for response (%d re-queued from "
                   "their outbox mark)", len(report.findings), len(report.runs), len(items), len(requeued))
    return [item.to_json() for item in items]


def on_respond_message(environ: Mapping[str, str], body: bytes, *, message_id: str | None,
                       invocation_id: str) -> None:
    """Respond to the one case a queue message names (:func:`shared.jobs.respond.respond_to_cases`).

    A bad message raises: the host retries it, then parks it as poison (:func:`on_respond_poison`).
    """
    from shared.jobs.respond import respond_to_cases

    item = parse_work_item(body)
    with _settings_and_ledger(environ) as (settings, ledger):
        for answer in respond_to_cases(settings, ledger, [item.case_id], invocation_id=invocation_id,
                                       run_id=item.run_id(message_id), now=datetime.now(UTC), mode=item.mode,
                                       approved_by=item.approved_by, actor=item.actor or "tokenwarden"):
            # A case another invocation holds completes this message quietly: the holder does the work, and
            # the case's outbox mark brings it back if the holder dies.
            _respond_log.info("case %s is %s%s: %s", answer.case_id, answer.state,
                              " (in progress elsewhere)" if answer.in_progress else "", answer.reason,
                              extra={"case_id": answer.case_id, "invocation_id": invocation_id})


def on_respond_poison(environ: Mapping[str, str], body: bytes, *, message_id: str | None, dequeue_count: int | None,
                      invocation_id: str) -> None:
    """Fail the case of a respond message the host gave up on (:func:`shared.respond.poison.fail_poisoned_case`);
    a body that is no respond message at all is logged, kept in the log line, and dropped."""
    from shared.respond.poison import fail_poisoned_case

    try:
        item = parse_work_item(body)
    except DataError as exc:
        _respond_log.error("poison message %s is not a respond message (%s); body kept here: %r", message_id, exc,
                           body[:2048])
        return
    with _settings_and_ledger(environ) as (settings, ledger):
        result = fail_poisoned_case(settings, ledger, item, message_id=message_id or "",
                                    dequeue_count=dequeue_count or 0, now=datetime.now(UTC),
                                    invocation_id=invocation_id)
    _respond_log.error("case %s failed: its respond message %s was poisoned (%s)", item.case_id, message_id, result,
                       extra={"case_id": item.case_id, "invocation_id": invocation_id})


def on_event(environ: Mapping[str, str], event: object, *, invocation_id: str) -> list[str]:
    """Handle one Event Grid event, in either delivery schema (:func:`shared.jobs.events.dispatch_event`); the
    respond-queue messages for the cases it opened or changed.

    A malformed event is logged in one line and acknowledged (a retry cannot fix it), an unknown type is logged
    and acknowledged; any other failure raises, so Event Grid redelivers with backoff.
    """
    import azure.functions as func

    from shared.intake.events import event_from_cloudevent, event_from_eventgrid
    from shared.jobs.events import dispatch_event

    envelope = event_from_cloudevent(event) if isinstance(event, func.CloudEvent) else event_from_eventgrid(event)
    label = f"{envelope.get('type')!r} id {envelope.get('id')!r} ({envelope['schema']} schema)"
    now = datetime.now(UTC)
    with _settings_and_ledger(environ) as (settings, ledger):
        try:
            result = dispatch_event(envelope, settings, ledger, now=now, invocation_id=invocation_id)
        except DataError as exc:
            _events_log.error("rejected malformed event %s: %s", label, exc)
            return []
        except TokenwardenError as exc:
            _events_log.error("event %s failed; Event Grid will redeliver it: %s", label, exc)
            raise
    if result.kind == "unknown":
        _events_log.warning("acknowledged event of unknown type %s; nothing to do", label)
    else:
        _events_log.info("event %s: %s %s", label, result.kind, _compact(
            {"action": result.action, "case_ids": list(result.case_ids), **result.detail}))
    queued = [WorkItem(case_id=case_id, queued_at=now, reason=f"event:{result.kind}").to_json()
              for case_id in result.case_ids]
    if queued:
        _events_log.info("event %s: %d case(s) queued for response", label, len(queued))
    return queued


def on_key_drift_timer(environ: Mapping[str, str], *, past_due: bool, invocation_id: str) -> None:
    """Diff the issuers' JWKS against the last snapshot and refresh the registered apps' key caches for keys that
    were removed (:func:`shared.jobs.key_drift.run_key_drift`)."""
    from shared.jobs.key_drift import run_key_drift

    if past_due:
        _key_drift_log.warning("key_drift timer is past due; checking the issuers now")
    with _settings_and_ledger(environ) as (settings, ledger):
        run = run_key_drift(settings, ledger, now=datetime.now(UTC), invocation_id=invocation_id)
    for failure in run.drift.failures:
        _key_drift_log.error("key source not read, its snapshot kept: %s: %s", failure.source, failure.message)
    for change in (*run.drift.added, *run.drift.removed):
        _key_drift_log.warning("key %s: %s by %s", change.change, change.kid, change.issuer or change.source)
    if run.refresh is not None:
        for outcome in run.refresh.failed:
            _key_drift_log.error("key-cache refresh of %s failed (the next run retries it): %s", outcome.target,
                                 outcome.detail.get("error"))
        for note in run.refresh.notes:
            _key_drift_log.warning("note: %s", note)
    _key_drift_log.info("key drift checked: %s", _compact(run.to_json()))
