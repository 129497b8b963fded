"""``POST /api/sentinel/incident``: the target of the Sentinel automation rule's Logic App playbook."""

from __future__ import annotations

import os

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()


@bp.function_name("sentinel_incident")
@bp.route(route="sentinel/incident", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def sentinel_incident(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.http import handle
    from shared.api.sentinel_incident import accept_incident
    from shared.settings import load_settings

    return handle(req, context, lambda call: accept_incident(call, load_settings(os.environ)))
