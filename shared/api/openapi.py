"""The route table and the OpenAPI 3.1 document generated from it and from the pydantic models.

:data:`ROUTES` is the single description of the HTTP API: method, route (as registered with the
Functions host, under its ``/api`` prefix), auth level, models and answers. The document is generated
from it (:func:`openapi_document`), ``docs/openapi.json`` is that document written out, and the tests
check the table against the functions the app actually registers, so the three cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.api import models as m
from shared.api.http import MAX_BODY_BYTES

__all__ = ["API_VERSION", "ROUTES", "Route", "openapi_document", "openapi_json"]

API_VERSION = "1.0.0"
AuthLevel = Literal["function", "anonymous"]


@dataclass(frozen=True, kw_only=True)
class Route:
    """One route. ``route`` is the Functions route template (``cases/{id}``), without the ``api/`` prefix."""

    method: Literal["GET", "POST"]
    route: str
    operation_id: str
    summary: str
    description: str = ""
    auth: AuthLevel = "function"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    ok: type[BaseModel] | None = None
    ok_status: int = 200
    errors: Mapping[int, str] = field(default_factory=dict)
    tag: str = "cases"

    @property
    def path(self) -> str:
        return "/" + self.route


_COMMON_ERRORS = {503: "Not configured, or the ledger or a dependency is unavailable."}
_BODY_ERRORS = {400: "The body is not JSON.", 413: f"The body is over {MAX_BODY_BYTES} bytes.",
                415: "The content type is not application/json.", 422: "The body does not validate."}

ROUTES: tuple[Route, ...] = (
    Route(method="POST", route="sentinel/incident", operation_id="sentinelIncident", tag="intake",
          summary="Accept a Sentinel incident from an automation rule (Logic App).",
          description="202: the cases are recorded and queued; each status URL (`GET /cases/{id}`) shows progress.",
          body=m.SentinelIncidentRequest, ok=m.SentinelIncidentResponse, ok_status=202,
          errors={**_BODY_ERRORS, **_COMMON_ERRORS}),
    Route(method="POST", route="scan", operation_id="scanWindow", tag="detection",
          summary="Run the rules over a window (manual check or backfill); optionally record the findings.",
          description="Checkpoints are never read or moved. A dry run stores nothing.",
          body=m.ScanRequest, ok=m.ScanResponse, errors={**_BODY_ERRORS, 502: "The log source failed.",
                                                          **_COMMON_ERRORS}),
    Route(method="POST", route="respond", operation_id="respond", tag="response",
          summary="Respond to named users or apps under a mode, optionally as a dry run.",
          description="202: the cases are recorded and their work queued; each status URL (`GET /cases/{id}`) "
                      "shows the plan, the actions and the state as the respond worker goes.",
          body=m.RespondRequest, ok=m.RespondResponse, ok_status=202,
          errors={**_BODY_ERRORS, 403: "The request asks to be its own approval, or names someone other than the "
                                       "signed-in caller.", **_COMMON_ERRORS}),
    Route(method="POST", route="tokens/analyze", operation_id="analyzeToken", tag="detection",
          summary="Analyze a raw JWT against the key intelligence (the token is not stored or logged).",
          body=m.AnalyzeTokenRequest, ok=m.AnalyzeTokenResponse, errors={**_BODY_ERRORS, **_COMMON_ERRORS}),
    Route(method="GET", route="cases", operation_id="listCases",
          summary="List cases, most recently updated first, filtered by state and severity, paged by cursor.",
          query=m.CaseListQuery, ok=m.CaseListResponse, errors={422: "A query parameter is invalid.",
                                                                 **_COMMON_ERRORS}),
    Route(method="GET", route="cases/{id}", operation_id="getCase",
          summary="One case with its findings, enrichment, decision, plan and action log.",
          ok=m.CaseDetail, errors={404: "There is no such case.", **_COMMON_ERRORS}),
    Route(method="POST", route="cases/{id}/approve", operation_id="approveCase", tag="response",
          summary="Approve the planned response of a case awaiting approval.",
          description="202 (`CaseAccepted`, state `in_progress`) when another invocation is already working on "
                      "the case: nothing is done for this approval.",
          body=m.ApproveRequest, ok=m.ApproveResponse,
          errors={**_BODY_ERRORS, 403: "The caller is not a verified approver (Easy Auth off, not signed in, "
                                       "no approver role, not the named approver) or requested the response.",
                  404: "There is no such case.", 409: "The case is already approved or finished.",
                  **_COMMON_ERRORS}),
    Route(method="GET", route="health", operation_id="health", tag="operations",
          summary="Configuration validity and dependency reachability, without secrets.",
          description="200 when ok or degraded, 503 (same body) when unhealthy.", ok=m.HealthResponse),
    Route(method="GET", route="openapi.json", operation_id="openapi", tag="operations", auth="anonymous",
          summary="This document."),
)

_REFERENCED_MODELS: tuple[type[BaseModel], ...] = (m.ErrorResponse, m.HealthResponse, m.CaseResponseModel)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json_content(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": dict(schema)}}


def _path_parameters(route: Route) -> list[dict[str, Any]]:
    import re

    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 100}}
            for name in re.findall(r"{([A-Za-z_][A-Za-z0-9_]*)}", route.route)]


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    required = set(schema.get("required", []))
    return [{"name": name, "in": "query", "required": name in required, "schema": prop,
             **({"description": prop["description"]} if "description" in prop else {})}
            for name, prop in schema["properties"].items()]


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if route.ok is not None:
        responses[str(route.ok_status)] = {"description": "Success.", "content": _json_content(_ref(route.ok))}
    else:
        responses[str(route.ok_status)] = {"description": "Success.",
                                           "content": _json_content({"type": "object"})}
    if route.auth == "function":
        responses["401"] = {"description": "No valid function key (answered by the Functions host, no body)."}
    for status, text in sorted(route.errors.items()):
        if status == 503 and route.ok is m.HealthResponse:
            continue
        responses[str(status)] = {"description": text, "content": _json_content(_ref(m.ErrorResponse))}
    if route.ok is m.HealthResponse:
        responses["503"] = {"description": "Unhealthy: the same report.", "content": _json_content(_ref(route.ok))}
    responses["500"] = {"description": "A bug; no request should cause it. Quote the invocation id.",
                        "content": _json_content(_ref(m.ErrorResponse))}
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary, "tags": [route.tag],
                                 "responses": responses}
    if route.description:
        operation["description"] = route.description
    parameters = _path_parameters(route) + (_query_parameters(route.query) if route.query else [])
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": _json_content(_ref(route.body))}
    operation["security"] = [{"functionKey": []}, {"functionKeyQuery": []}] if route.auth == "function" else []
    return operation


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`ROUTES`, with every model's JSON Schema under components."""
    models = {model for route in ROUTES for model in (route.body, route.ok) if model is not None}
    models.update(_REFERENCED_MODELS)
    ordered = sorted(models, key=lambda model: model.__name__)
    _, definitions = models_json_schema([(model, "validation") for model in ordered],
                                        ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tokenwarden API",
            "version": API_VERSION,
            "description": "Find and contain forged Entra ID and Microsoft-account access tokens. Every error is "
                           "`{\"error\": {\"code\", \"message\", \"details\"?}, \"invocation_id\"}`. Request bodies "
                           f"are JSON, at most {MAX_BODY_BYTES} bytes. See docs/api.md.",
        },
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(definitions.get("$defs", {}).items())),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


def openapi_json() -> str:
    """The document as stable, indented JSON text (what ``docs/openapi.json`` holds)."""
    return json.dumps(openapi_document(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"
