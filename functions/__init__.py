"""Thin trigger adapters: parse the trigger, call ``shared``, render the result."""

import os


def start_telemetry() -> None:
    """Export ``tokenwarden.*`` logs (the audit trail among them) to App Insights when that is configured.

    Once per process and cheap after that; nothing is imported unless it configures (shared/audit/telemetry.py).
    """
    from shared.audit.telemetry import configure_telemetry

    configure_telemetry(os.environ)
