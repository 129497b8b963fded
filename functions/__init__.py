"""Thin trigger adapters: parse the trigger, call ``shared``, render the result."""

import os


def start_telemetry() -> None:
    """Export ``tokenwarden.*`` logs (the audit trail among them) to App Insights when that is configured.

    Once per process and cheap after that; nothing is imported unless it configures (shared/audit/telemetry.py).
    Every ``tokenwarden.*`` record's message is first scrubbed of credentials and kept to one line
    (shared/core/safetext.py), so caller text can neither leak a token nor forge a log line.
    """
    from shared.audit.telemetry import configure_telemetry
    from shared.core.safetext import install_log_scrubber

    install_log_scrubber()
    configure_telemetry(os.environ)
