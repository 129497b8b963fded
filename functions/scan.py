"""The ``scan`` timer: run the detection rules on ``%SCAN_SCHEDULE%`` and log every finding."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("tokenwarden.scan")


@bp.function_name("scan")
@bp.timer_trigger(arg_name="timer", schedule="%SCAN_SCHEDULE%", run_on_startup=False, use_monitor=True)
def scan(timer: func.TimerRequest) -> None:
    from shared.scan import run_scan
    from shared.settings import load_settings

    if timer.past_due:
        log.warning("scan timer is past due; scanning the configured lookback now")
    report = run_scan(load_settings(os.environ), now=datetime.now(UTC))
    for finding in report.findings:
        log.warning("finding %s", json.dumps(finding.to_json(), separators=(",", ":")))
    for run in report.runs:
        if run.status != "complete":
            log.error("rule %s %s: %s", run.rule_id, run.status, run.message)
    for warning in report.warnings:
        log.info("note: %s", warning)
    log.info("scan complete: %d findings from %d rules", len(report.findings), len(report.runs))
