"""The HTTP API's routes (but the Sentinel intake) and the OpenAPI document: thin adapters around ``shared.api``.

Each adapter is one :func:`shared.api.http.handle` call: it reads the settings, hands the request to a
``shared.api`` route function and answers JSON, errors included. Everything is imported inside the
function bodies, so importing this module (at cold start, for every function) imports no pydantic.

Auth: FUNCTION for every route except ``GET /openapi.json`` (ANONYMOUS: it describes the API and holds no
data). ``GET /health`` stays FUNCTION because it reports which integrations are configured; docs/api.md
describes putting Easy Auth (Entra) in front of the app for analysts.
"""

from __future__ import annotations

import os

import azure.functions as func

from functions import start_telemetry

bp = func.Blueprint()

QUEUE = "tokenwarden-respond"
"""``shared.core.resource_names.QUEUE_RESPOND``; a literal here because bindings are read at indexing time."""


@bp.function_name("list_cases")
@bp.route(route="cases", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def list_cases(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.cases import list_cases as route
    from shared.api.http import handle
    from shared.core.settings import load_settings

    return handle(req, context, lambda call: route(call, load_settings(os.environ)))


@bp.function_name("get_case")
@bp.route(route="cases/{id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def get_case(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.cases import get_case as route
    from shared.api.http import handle
    from shared.core.settings import load_settings

    return handle(req, context, lambda call: route(call, load_settings(os.environ)))


@bp.function_name("manual_scan")
@bp.route(route="scan", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def manual_scan(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.http import handle
    from shared.api.scan import run_manual_scan
    from shared.core.settings import load_settings

    return handle(req, context, lambda call: run_manual_scan(call, load_settings(os.environ)))


@bp.function_name("health")
@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def health(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.health import health as route
    from shared.api.http import handle

    return handle(req, context, lambda call: route(call, os.environ))


@bp.function_name("openapi")
@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def openapi(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.http import Reply, handle
    from shared.api.openapi import openapi_document

    return handle(req, context, lambda call: Reply(body=openapi_document()))


@bp.function_name("analyze_token")
@bp.route(route="tokens/analyze", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def analyze_token(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.analyze import analyze as route
    from shared.api.http import handle
    from shared.core.settings import load_settings

    return handle(req, context, lambda call: route(call, load_settings(os.environ)))


@bp.function_name("manual_respond")
@bp.route(route="respond", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="work", queue_name=QUEUE, connection="AzureWebJobsStorage")
def manual_respond(req: func.HttpRequest, work: func.Out[list[str]], context: func.Context) -> func.HttpResponse:
    """202 once the cases are recorded; the respond worker does the rest from the queued messages."""
    start_telemetry()
    from shared.api.caller import audit_refusals
    from shared.api.http import handle
    from shared.api.respond import respond as route
    from shared.core.settings import load_settings

    return handle(req, context, lambda call: route(call, load_settings(os.environ), work.set),
                  on_refusal=audit_refusals(lambda: load_settings(os.environ), "respond"))


@bp.function_name("approve_case")
@bp.route(route="cases/{id}/approve", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def approve_case(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    start_telemetry()
    from shared.api.approve import approve as route
    from shared.api.caller import audit_refusals
    from shared.api.http import handle
    from shared.core.settings import load_settings

    return handle(req, context, lambda call: route(call, load_settings(os.environ)),
                  on_refusal=audit_refusals(lambda: load_settings(os.environ), "approve"))
