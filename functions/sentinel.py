"""``POST /api/sentinel/incident``: the target of the Sentinel automation rule's Logic App playbook."""

from __future__ import annotations

import os

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()

QUEUE = "tokenwarden-respond"
"""``shared.core.resource_names.QUEUE_RESPOND``; a literal here because bindings are read at indexing time."""


@bp.function_name("sentinel_incident")
@bp.route(route="sentinel/incident", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="work", queue_name=QUEUE, connection="AzureWebJobsStorage")
def sentinel_incident(req: func.HttpRequest, work: func.Out[list[str]], context: func.Context) -> func.HttpResponse:
    """202 once the incident's cases are recorded; the respond worker does the rest from the queued messages."""
    start_telemetry()
    from shared.api.http import handle_configured
    from shared.api.sentinel_incident import accept_incident

    return handle_configured(req, context, os.environ,
                             lambda call, settings: accept_incident(call, settings, work.set),
                             audit_refusals_as="sentinel_intake")
