"""The ``scan`` timer: run the rules from their checkpoints on ``%SCAN_SCHEDULE%``; queue each case needing work,
and re-queue the cases whose outbox mark went stale (:func:`shared.jobs.triggers.on_scan_timer`)."""

from __future__ import annotations

import os

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()


@bp.function_name("scan")
@bp.timer_trigger(arg_name="timer", schedule="%SCAN_SCHEDULE%", run_on_startup=False, use_monitor=True)
@bp.queue_output(arg_name="work", queue_name="tokenwarden-respond", connection="AzureWebJobsStorage")
def scan(timer: func.TimerRequest, work: func.Out[list[str]]) -> None:
    start_telemetry()
    from shared.jobs.triggers import on_scan_timer

    queued = on_scan_timer(os.environ, past_due=timer.past_due)
    if queued:
        work.set(queued)
