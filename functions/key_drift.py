"""The ``key_drift`` timer: on ``%KEY_DRIFT_SCHEDULE%``, diff the issuers' JWKS against the last snapshot and
refresh the registered apps' key caches for keys that were removed (:mod:`shared.jobs.key_drift`)."""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()
log = logging.getLogger("tokenwarden.key_drift")


@bp.function_name("key_drift")
@bp.timer_trigger(arg_name="timer", schedule="%KEY_DRIFT_SCHEDULE%", run_on_startup=False, use_monitor=True)
def key_drift(timer: func.TimerRequest, context: func.Context) -> None:
    start_telemetry()
    from shared.core.settings import load_settings
    from shared.jobs.key_drift import run_key_drift
    from shared.ledger.connection import open_ledger

    if timer.past_due:
        log.warning("key_drift timer is past due; checking the issuers now")
    settings = load_settings(os.environ)
    ledger = open_ledger(settings)
    try:
        run = run_key_drift(settings, ledger, now=datetime.now(UTC), invocation_id=context.invocation_id)
    finally:
        ledger.close()
    for failure in run.drift.failures:
        log.error("key source not read, its snapshot kept: %s: %s", failure.source, failure.message)
    for change in (*run.drift.added, *run.drift.removed):
        log.warning("key %s: %s by %s", change.change, change.kid, change.issuer or change.source)
    if run.refresh is not None:
        for outcome in run.refresh.failed:
            log.error("key-cache refresh of %s failed (the next run retries it): %s", outcome.target,
                      outcome.detail.get("error"))
        for note in run.refresh.notes:
            log.warning("note: %s", note)
    log.info("key drift checked: %s", json.dumps(run.to_json(), default=str, separators=(",", ":")))
