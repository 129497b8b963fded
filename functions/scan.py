"""The ``scan`` timer: run the rules from their checkpoints on ``%SCAN_SCHEDULE%``; queue each case needing work,
and re-queue the cases whose outbox mark went stale (:mod:`shared.jobs.scan`)."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()
log = logging.getLogger("tokenwarden.scan")


@bp.function_name("scan")
@bp.timer_trigger(arg_name="timer", schedule="%SCAN_SCHEDULE%", run_on_startup=False, use_monitor=True)
@bp.queue_output(arg_name="work", queue_name="tokenwarden-respond", connection="AzureWebJobsStorage")
def scan(timer: func.TimerRequest, work: func.Out[list[str]]) -> None:
    start_telemetry()
    from shared.core.settings import load_settings
    from shared.jobs.scan import run_scan
    from shared.jobs.time_budget import ScanBudget

    if timer.past_due:
        log.warning("scan timer is past due; scanning from the checkpoints now")
    now = datetime.now(UTC)
    report = run_scan(load_settings(os.environ), now=now, budget=ScanBudget.from_host())
    for finding in report.findings:
        log.warning("finding %s", json.dumps(finding.to_json(), separators=(",", ":")))
    for run in report.runs:
        if run.status != "complete":
            log.error("rule %s %s: %s", run.rule_id, run.status, run.message)
    for warning in report.warnings:
        log.info("note: %s", warning)
    items = report.work_items()
    requeued = [item for item in items if item.reason == "scan:requeue"]
    if items:
        work.set([item.to_json() for item in items])
    log.info("scan complete: %d findings from %d rules; %d case(s) queued for response (%d re-queued from their "
             "outbox mark)", len(report.findings), len(report.runs), len(items), len(requeued))
