"""The ``key_drift`` timer: on ``%KEY_DRIFT_SCHEDULE%``, diff the issuers' JWKS against the last snapshot and
refresh the registered apps' key caches for keys that were removed (:func:`shared.jobs.triggers.on_key_drift_timer`)."""

from __future__ import annotations

import os

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()


@bp.function_name("key_drift")
@bp.timer_trigger(arg_name="timer", schedule="%KEY_DRIFT_SCHEDULE%", run_on_startup=False, use_monitor=True)
def key_drift(timer: func.TimerRequest, context: func.Context) -> None:
    start_telemetry()
    from shared.jobs.triggers import on_key_drift_timer

    on_key_drift_timer(os.environ, past_due=timer.past_due, invocation_id=context.invocation_id)
