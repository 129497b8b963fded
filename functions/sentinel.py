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
    from shared.api.caller import audit_refusals
    from shared.api.http import handle
    from shared.api.sentinel_incident import accept_incident
    from shared.core.settings import load_settings

    return handle(req, context, lambda call: accept_incident(call, load_settings(os.environ), work.set),
                  on_refusal=audit_refusals(lambda: load_settings(os.environ), "sentinel_intake"))
