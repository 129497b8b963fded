"""Thin trigger adapters: parse the trigger, call one job (``shared.jobs``) or route (``shared.api``), output
the result. They import ``shared`` only inside their bodies, and nothing but ``shared.jobs`` and ``shared.api``
(tests/test_import_boundaries.py), so importing them at cold start loads no SDK (tests/test_cold_start.py)."""

import os


def start_telemetry() -> None:
    """Export ``tokenwarden.*`` logs to App Insights when configured (:func:`shared.jobs.triggers.start_telemetry`)."""
    from shared.jobs.triggers import start_telemetry as start

    start(os.environ)
