"""Tokenwarden's logs to Application Insights through OpenTelemetry (azure-monitor-opentelemetry), when configured.

Every ``tokenwarden.*`` record goes out as an App Insights trace, its ``extra`` fields (``case_id``,
``action_id``, ``invocation_id`` on ``tokenwarden.audit``) as custom dimensions. Without this the Functions
Python worker still forwards every log record to the host, which writes it to App Insights with the message
only: the ids are then inside the message's JSON, not columns.

:func:`configure_telemetry` takes the app settings as a mapping (the adapters pass the process environment) and
decides, once per process:

* ``off``: no ``APPLICATIONINSIGHTS_CONNECTION_STRING``; nothing is imported.
* ``worker``: ``PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY`` is true, so the Python worker already called
  ``configure_azure_monitor`` at start-up; configuring again would export every record twice.
* ``host``: inside the Functions host without ``PYTHON_ENABLE_OPENTELEMETRY``: the host forwards worker logs
  to App Insights itself, and an exporter here would write each record a second time. Set
  ``PYTHON_ENABLE_OPENTELEMETRY=true`` (with ``"telemetryMode": "OpenTelemetry"`` in host.json) to switch.
* ``configured``: ``configure_azure_monitor(connection_string=..., logger_name="tokenwarden",
  credential=...)`` ran; the credential is the managed identity named in
  ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` (``ClientId=<id>;Authorization=AAD``), since the App
  Insights component has local (key) authentication disabled.
* ``failed``: the distro could not be set up; logged, never raised (telemetry must not stop a response).

A second call returns the first call's state. docs/operations.md ("Audit trail") says which settings a
deployment uses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

__all__ = ["LOGGER_NAME", "TelemetryState", "configure_telemetry", "telemetry_credential", "telemetry_state"]

TelemetryState = Literal["off", "worker", "host", "configured", "failed"]
LOGGER_NAME = "tokenwarden"
"""The logger whose records (and its children's: tokenwarden.audit, ...) are exported."""

_CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
_AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING"
_WORKER_DISTRO = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
_WORKER_OTEL = "PYTHON_ENABLE_OPENTELEMETRY"
_FUNCTIONS_RUNTIME = "FUNCTIONS_WORKER_RUNTIME"

_lock = threading.Lock()
_state: TelemetryState | None = None
_log = logging.getLogger("tokenwarden.telemetry")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def telemetry_credential(environ: Mapping[str, str]) -> TokenCredential | None:
    """The managed identity ``APPLICATIONINSIGHTS_AUTHENTICATION_STRING`` asks for, or None (key authentication).

    The value is ``Authorization=AAD`` with an optional ``ClientId=<user-assigned identity's client id>``,
    pairs separated by ``;``; anything else means no Entra authentication.
    """
    text = environ.get(_AUTHENTICATION_STRING, "")
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            pairs[key.strip().lower()] = value.strip()
    if pairs.get("authorization", "").upper() != "AAD":
        return None
    from azure.identity import ManagedIdentityCredential

    client_id = pairs.get("clientid")
    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def telemetry_state() -> TelemetryState | None:
    """What the first :func:`configure_telemetry` decided, or None before it ran."""
    return _state


def configure_telemetry(environ: Mapping[str, str], **options: Any) -> TelemetryState:
    """Set up the OpenTelemetry export of ``tokenwarden.*`` logs once per process (see the module docstring).

    *options* go to ``configure_azure_monitor`` as well (tests pass ``enable_live_metrics=False`` and
    ``disable_offline_storage=True``).
    """
    global _state  # noqa: PLW0603 - one OpenTelemetry setup per process, by the distro's own design
    with _lock:
        if _state is not None:
            return _state
        _state = _decide(environ, options)
        return _state


def _decide(environ: Mapping[str, str], options: Mapping[str, Any]) -> TelemetryState:
    connection_string = environ.get(_CONNECTION_STRING, "").strip()
    if not connection_string:
        return "off"
    if _true(environ.get(_WORKER_DISTRO)):
        return "worker"
    if environ.get(_FUNCTIONS_RUNTIME) and not _true(environ.get(_WORKER_OTEL)):
        return "host"
    try:
        from azure.monitor.opentelemetry import configure_azure_monitor

        credential = telemetry_credential(environ)
        extra: dict[str, Any] = {"credential": credential} if credential is not None else {}
        configure_azure_monitor(connection_string=connection_string, logger_name=LOGGER_NAME, **extra, **options)
    except Exception as exc:
        _log.warning("Application Insights export not set up: %s: %s", type(exc).__name__, exc)
        return "failed"
    logger = logging.getLogger(LOGGER_NAME)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)  # the audit trail is logged at INFO; the root logger defaults to WARNING
    return "configured"


def _reset_for_tests() -> None:
    """Forget the decision (the OpenTelemetry providers themselves stay installed for the process)."""
    global _state  # noqa: PLW0603
    with _lock:
        _state = None
