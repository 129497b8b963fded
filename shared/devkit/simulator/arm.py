"""Azure Resource Manager routes served under ``/subscriptions``: Sentinel incidents and comments, site restarts.

Templates are relative to the ``subscriptions`` root. Answers use ARM's shapes:
resources are ``{"id", "name", "etag", "type", "properties"}`` and errors
``{"error": {"code", "message"}}``.

* Sentinel (``Microsoft.SecurityInsights``, api-version ``2025-09-01`` only):
  ``PUT``/``GET`` an incident, ``PUT``/``GET`` a comment and ``GET`` the list
  of an incident's comments. ``PUT`` replaces (200) or creates, and mints a new
  etag on every change. The spec lets a create answer 200 or 201 (azure-rest-api-specs
  ``specification/securityinsights/resource-manager/Microsoft.SecurityInsights/stable/2025-09-01/
  examples/incidents/CreateIncident.json`` lists both for one create), so a create answers
  ``state.arm_create_status`` (201 unless a test sets 200) and a client must not read
  "created" from the status. Incidents need ``title``, ``severity`` and ``status``,
  comments a ``message``; ``incidentNumber``, ``createdTimeUtc`` and
  ``lastModifiedTimeUtc`` are the service's.
* Optimistic concurrency is the service's: the 2025-09-01 spec declares no
  ``If-Match`` parameter on these PUTs; the body's ``etag`` property
  (``ResourceWithEtag``) is the precondition. A body ``etag`` that is not the
  current one is answered 409 ``Conflict`` ("Newer version of resource '{name}'
  exists. Data was not saved", as Azure/Azure-Sentinel issues #883 and #909
  show); a body without ``etag`` replaces unconditionally. An ``etag`` on a PUT
  to a resource that does not exist is also a 409 (the simulator's choice; the
  service's answer there is not documented).
* Extension, not the service's documented behaviour: an ``If-Match`` header that
  is neither ``*`` nor the current etag is a 412 ``PreconditionFailed``. Whether
  ARM honours or ignores the header for Sentinel is not documented; the body
  ``etag`` is checked first, so a client that sends both sees the 409 the
  service would send.
* ``POST .../providers/Microsoft.Web/sites/{name}/restart?api-version=...``:
  200 with an empty body, counted per site in ``state.site_restarts``.

Every change is appended to ``state.writes``. Each route needs its RBAC action
(:data:`shared.devkit.simulator.permissions.ARM_ACTIONS`) on the resource, and reads and
writes are throttled with ARM's token buckets (429 ``SubscriptionRequestsThrottled``
with ``Retry-After``; :mod:`shared.devkit.simulator.throttling`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from shared.devkit.simulator import throttling
from shared.devkit.simulator.permissions import ARM_ACTIONS
from shared.devkit.simulator.responses import GraphResponse
from shared.devkit.simulator.routing import RequestContext, Route, Router, SimulatorApp
from shared.devkit.simulator.state import graph_datetime

__all__ = ["ARM_ROOT", "SENTINEL_API_VERSION", "arm_error", "arm_router", "site_key"]

ARM_ROOT = "subscriptions"
SENTINEL_API_VERSION = "2025-09-01"
_JSON = "application/json; charset=utf-8"
_WORKSPACE = "/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{ws}"
_INCIDENT = _WORKSPACE + "/providers/Microsoft.SecurityInsights/incidents/{incident}"
_INCIDENT_TYPE = "Microsoft.SecurityInsights/Incidents"
_COMMENT_TYPE = "Microsoft.SecurityInsights/Incidents/Comments"
_SEVERITIES = ("High", "Medium", "Low", "Informational")
_STATUSES = ("New", "Active", "Closed")
_INCIDENT_INPUT = ("title", "description", "severity", "status", "classification", "classificationComment",
                   "classificationReason", "labels", "owner", "firstActivityTimeUtc", "lastActivityTimeUtc",
                   "providerName", "providerIncidentId")


def arm_router() -> Router:
    router = Router()
    for method, template, handler, kind in (
            ("PUT", _INCIDENT, put_incident, "incident"),
            ("GET", _INCIDENT, get_incident, "incident"),
            ("GET", _INCIDENT + "/comments", list_comments, "comment"),
            ("PUT", _INCIDENT + "/comments/{comment}", put_comment, "comment"),
            ("GET", _INCIDENT + "/comments/{comment}", get_comment, "comment"),
            ("POST", "/{sub}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{site}/restart", restart_site,
             "restart")):
        router.add(Route(method=method, template=template, handler=handler, rbac_action=ARM_ACTIONS[(method, kind)],
                         family=throttling.ARM_READ if method == "GET" else throttling.ARM_WRITE))
    return router


def arm_error(status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None) -> GraphResponse:
    return GraphResponse(status, {"error": {"code": code, "message": message}},
                         {"Content-Type": _JSON, **(headers or {})})


def site_key(resource_group: str, site: str) -> str:
    """The key of ``state.site_restarts``: ``{resourceGroup}/{site}``, lower-cased."""
    return f"{resource_group}/{site}".lower()


# --- Sentinel --------------------------------------------------------------------------------------
def put_incident(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    parsed = _sentinel_put(context)
    if isinstance(parsed, GraphResponse):
        return parsed
    body, etag = parsed
    invalid = _invalid_incident(body)
    if invalid is not None:
        return arm_error(400, "BadRequest", invalid)
    resource_id = _incident_id(context)
    now = graph_datetime(context.ids.date, fraction=True)
    with app.state.lock:
        existing = app.state.arm_resources.get(resource_id.lower())
        mismatch = _precondition_failure(context, etag, existing, context.params["incident"])
        if mismatch is not None:
            return mismatch
        if existing is None:
            app.state.incident_counter += 1
            number = app.state.incident_counter
            created = now
            comments = 0
        else:
            old = _properties(existing)
            number, created = old["incidentNumber"], old["createdTimeUtc"]
            comments = old["additionalData"]["commentsCount"]
        properties: dict[str, Any] = {
            "title": body["title"], "description": body.get("description"), "severity": body["severity"],
            "status": body["status"], "classification": body.get("classification"),
            "classificationComment": body.get("classificationComment"),
            "classificationReason": body.get("classificationReason"),
            "owner": body.get("owner") or {"objectId": None, "email": None, "assignedTo": None,
                                           "userPrincipalName": None},
            "labels": body.get("labels") or [],
            "firstActivityTimeUtc": body.get("firstActivityTimeUtc"),
            "lastActivityTimeUtc": body.get("lastActivityTimeUtc"),
            "lastModifiedTimeUtc": now, "createdTimeUtc": created, "incidentNumber": number,
            "additionalData": {"alertsCount": 0, "bookmarksCount": 0, "commentsCount": comments,
                               "alertProductNames": [], "tactics": [], "techniques": []},
            "relatedAnalyticRuleIds": [],
            "incidentUrl": f"https://portal.azure.com/#asset/Microsoft_Azure_Security_Insights/Incident{resource_id}",
            "providerName": body.get("providerName") or "Azure Sentinel",
            "providerIncidentId": body.get("providerIncidentId") or str(number),
        }
        resource = _resource(resource_id, context.params["incident"], _INCIDENT_TYPE, properties)
        app.state.arm_resources[resource_id.lower()] = resource
        app.state.record_write("putIncident", resource_id, context.ids.date, created=existing is None,
                               properties={name: body[name] for name in _INCIDENT_INPUT if name in body})
    return _resource_response(resource, app.state.arm_create_status if existing is None else 200)


def _get_resource(context: RequestContext, app: SimulatorApp, resource_id: str, name: str, kind: str) -> GraphResponse:
    """GET of one stored Sentinel resource: 200 with it, or ARM's 404 naming *kind*."""
    failure = _api_version(context, SENTINEL_API_VERSION)
    if failure is not None:
        return failure
    with app.state.lock:
        resource = app.state.arm_resources.get(resource_id.lower())
    if resource is None:
        return _not_found(name, kind)
    return _resource_response(resource, 200)


def get_incident(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    return _get_resource(context, app, _incident_id(context), context.params["incident"], "Incident")


def put_comment(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    parsed = _sentinel_put(context)
    if isinstance(parsed, GraphResponse):
        return parsed
    body, etag = parsed
    message = body.get("message")
    if not isinstance(message, str) or not message:
        return arm_error(400, "BadRequest", "The 'message' property is required and must be a non-empty string.")
    incident_id = _incident_id(context)
    resource_id = f"{incident_id}/Comments/{context.params['comment']}"
    now = graph_datetime(context.ids.date, fraction=True)
    with app.state.lock:
        incident = app.state.arm_resources.get(incident_id.lower())
        if incident is None:
            return _not_found(context.params["incident"], "Incident")
        existing = app.state.arm_resources.get(resource_id.lower())
        mismatch = _precondition_failure(context, etag, existing, context.params["comment"])
        if mismatch is not None:
            return mismatch
        created = now if existing is None else _properties(existing)["createdTimeUtc"]
        properties: dict[str, Any] = {
            "message": message, "createdTimeUtc": created, "lastModifiedTimeUtc": now,
            "author": {"objectId": None, "email": None, "name": None, "userPrincipalName": None},
        }
        resource = _resource(resource_id, context.params["comment"], _COMMENT_TYPE, properties)
        app.state.arm_resources[resource_id.lower()] = resource
        if existing is None:
            _properties(incident)["additionalData"]["commentsCount"] += 1
        app.state.record_write("putIncidentComment", resource_id, context.ids.date, created=existing is None,
                               message=message)
    return _resource_response(resource, app.state.arm_create_status if existing is None else 200)


def get_comment(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    resource_id = f"{_incident_id(context)}/Comments/{context.params['comment']}"
    return _get_resource(context, app, resource_id, context.params["comment"], "IncidentComment")


def list_comments(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    failure = _api_version(context, SENTINEL_API_VERSION)
    if failure is not None:
        return failure
    incident_id = _incident_id(context)
    prefix = f"{incident_id}/Comments/".lower()
    with app.state.lock:
        if incident_id.lower() not in app.state.arm_resources:
            return _not_found(context.params["incident"], "Incident")
        comments = [json.loads(json.dumps(resource)) for key, resource in app.state.arm_resources.items()
                    if key.startswith(prefix) and "/" not in key[len(prefix):]]
    return GraphResponse(200, {"value": comments}, {"Content-Type": _JSON})


# --- App Service ------------------------------------------------------------------------------------
def restart_site(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    failure = _api_version(context, None)
    if failure is not None:
        return failure
    key = site_key(context.params["rg"], context.params["site"])
    with app.state.lock:
        app.state.site_restarts[key] = app.state.site_restarts.get(key, 0) + 1
        app.state.record_write("restartSite", key, context.ids.date, subscription=context.params["sub"])
    return GraphResponse(200)


# --- internals ---------------------------------------------------------------------------------------
def _api_version(context: RequestContext, required: str | None) -> GraphResponse | None:
    versions = parse_qs(context.query).get("api-version")
    if not versions or not versions[0]:
        return arm_error(400, "MissingApiVersionParameter",
                         "The api-version query parameter (?api-version=) is required for all requests.")
    if required is not None and versions[0] != required:
        return arm_error(400, "InvalidApiVersionParameter",
                         f"The api-version '{versions[0]}' is invalid. The supported versions are '{required}'.")
    return None


def _sentinel_put(context: RequestContext) -> tuple[dict[str, Any], str | None] | GraphResponse:
    """A Sentinel PUT's ``properties`` object and its optional top-level ``etag``, once its api-version is right."""
    failure = _api_version(context, SENTINEL_API_VERSION)
    if failure is not None:
        return failure
    try:
        body = json.loads(context.body or b"")
    except (ValueError, UnicodeDecodeError):
        return arm_error(400, "InvalidRequestContent", "The request content was invalid and could not be "
                                                       "deserialized.")
    properties = body.get("properties") if isinstance(body, dict) else None
    if not isinstance(properties, dict):
        return arm_error(400, "BadRequest", "The request body must be a JSON object with a 'properties' object.")
    etag = body.get("etag")
    if etag is not None and not isinstance(etag, str):
        return arm_error(400, "BadRequest", "The 'etag' property must be a string.")
    return properties, etag or None


def _invalid_incident(properties: Mapping[str, Any]) -> str | None:
    for name in ("title", "severity", "status"):
        if not isinstance(properties.get(name), str) or not properties[name]:
            return f"The '{name}' property is required."
    if properties["severity"] not in _SEVERITIES:
        return f"The severity '{properties['severity']}' is invalid; expected one of {', '.join(_SEVERITIES)}."
    if properties["status"] not in _STATUSES:
        return f"The status '{properties['status']}' is invalid; expected one of {', '.join(_STATUSES)}."
    labels = properties.get("labels")
    if labels is not None and not (isinstance(labels, list) and all(
            isinstance(label, dict) and isinstance(label.get("labelName"), str) for label in labels)):
        return "The 'labels' property must be an array of objects with a 'labelName'."
    return None


def _precondition_failure(context: RequestContext, etag: str | None, existing: Mapping[str, Any] | None,
                          name: str) -> GraphResponse | None:
    """The service's check (body ``etag``, 409) first, then the simulator's ``If-Match`` extension (412)."""
    if etag is not None and existing is None:
        return arm_error(409, "Conflict", f"Resource '{name}' does not exist, so etag '{etag}' names no version "
                                          "of it. Data was not saved")
    if etag is not None and existing is not None and _bare(etag) != _bare(str(existing["etag"])):
        return arm_error(409, "Conflict", f"Newer version of resource '{name}' exists. Data was not saved")
    return _if_match_failure(context, existing)


def _if_match_failure(context: RequestContext, existing: Mapping[str, Any] | None) -> GraphResponse | None:
    wanted = context.header("if-match")
    if wanted is None:
        return None
    if wanted.strip() == "*" and existing is not None:
        return None
    if existing is not None and _bare(wanted) == _bare(str(existing["etag"])):
        return None
    return arm_error(412, "PreconditionFailed",
                     "The specified If-Match precondition does not match the resource's current etag.")


def _bare(etag: str) -> str:
    etag = etag.strip()
    if etag.startswith("W/"):
        etag = etag[2:]
    return etag.strip('"')


def _incident_id(context: RequestContext) -> str:
    p = context.params
    return (f"/subscriptions/{p['sub']}/resourceGroups/{p['rg']}/providers/Microsoft.OperationalInsights/workspaces/"
            f"{p['ws']}/providers/Microsoft.SecurityInsights/Incidents/{p['incident']}")


def _resource(resource_id: str, name: str, kind: str, properties: dict[str, Any]) -> dict[str, object]:
    return {"id": resource_id, "name": name, "etag": f'"{uuid.uuid4()}"', "type": kind, "properties": properties}


def _properties(resource: Mapping[str, object]) -> dict[str, Any]:
    properties = resource["properties"]
    assert isinstance(properties, dict)
    return properties


def _resource_response(resource: Mapping[str, object], status: int) -> GraphResponse:
    copy = json.loads(json.dumps(resource))
    return GraphResponse(status, copy, {"Content-Type": _JSON, "ETag": str(resource["etag"])})


def _not_found(name: str, kind: str) -> GraphResponse:
    return arm_error(404, "NotFound", f"{kind} '{name}' was not found.")
