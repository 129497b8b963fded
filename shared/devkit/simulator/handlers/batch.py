"""``POST /$batch``: JSON batching, each request dispatched as if it had come on its own.

Request and response shapes follow ``concepts/json-batching.md``:

* the body is ``{"requests": [{"id", "method", "url", "headers"?, "body"?,
  "dependsOn"?}]}``, at most 20 requests, ids unique (case-insensitively);
  a malformed batch is one 400 for the whole call;
* ``url`` is relative to the version root (``/users/x`` or ``users/x``); an
  absolute URL is refused per request, as Graph does, with "Resource not found
  for the segment 'https:'." (msgraph-core's ``BatchRequestItem`` sends
  absolute URLs: msgraph-sdk-python#1015, msgraph-sdk-python-core#1116);
* the answer is 200 ``{"responses": [{"id", "status", "headers", "body"?}]}``;
  each request is authorised by the batch, faulted, throttled and counted one
  by one, so a throttled request gets its own 429 with ``Retry-After`` in its
  ``headers``;
* ``dependsOn`` must name earlier requests; a request whose dependency failed
  is answered 424 without being run. Graph ignores unknown properties, so
  msgraph-core's ``depends_on`` spelling orders nothing (msgraph-sdk-python-core#996).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from shared.devkit.simulator.responses import GraphResponse, RequestIds, graph_error, json_response
from shared.devkit.simulator.routing import NO_RESPONSE, Outcome, RequestContext, Route, Router, SimulatorApp

__all__ = ["MAX_BATCH_REQUESTS", "register"]

MAX_BATCH_REQUESTS = 20
_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT"})
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})


class _Malformed(Exception):
    pass


def register(router: Router) -> None:
    router.add(Route(method="POST", template="/$batch", handler=run_batch))


def run_batch(context: RequestContext, app: SimulatorApp) -> Outcome:
    try:
        requests = _parse(context.body)
    except _Malformed as problem:
        return graph_error(400, "BadRequest", str(problem), context.ids)
    if len(requests) > MAX_BATCH_REQUESTS:
        return graph_error(400, "BadRequest", "Number of requests inside batch exceeds the limit.", context.ids)
    invalid = _validate(requests)
    if invalid is not None:
        return graph_error(400, "BadRequest", invalid, context.ids)
    statuses: dict[str, int] = {}
    responses: list[dict[str, object]] = []
    for item in requests:
        request_id = str(item["id"])
        depends_on = [d.lower() for d in _depends_on(item)]
        failed = next((d for d in depends_on if not 200 <= statuses.get(d, 0) <= 299), None)
        if failed is not None:
            outcome: Outcome = graph_error(
                424, "FailedDependency", f"The request depends on request '{failed}', which failed.",
                _inner_ids(context))
        else:
            outcome = _run_one(context, app, item)
        if outcome is NO_RESPONSE:
            return NO_RESPONSE
        assert isinstance(outcome, GraphResponse)
        statuses[request_id.lower()] = outcome.status
        responses.append(_response_item(request_id, outcome))
    return json_response({"responses": responses}, headers={"Content-Type": "application/json"})


def _parse(body: bytes | None) -> list[dict[str, object]]:
    try:
        document = json.loads((body or b"").decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Malformed("Invalid batch payload format.") from None
    requests = document.get("requests") if isinstance(document, dict) else None
    if not isinstance(requests, list) or not all(isinstance(item, dict) for item in requests):
        raise _Malformed("Invalid batch payload format.")
    for item in requests:
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise _Malformed("Invalid batch payload format. Every request needs a string 'id'.")
        if not isinstance(item.get("method"), str) or not isinstance(item.get("url"), str):
            raise _Malformed(f"Invalid batch payload format. Request '{item['id']}' needs 'method' and 'url'.")
        if "headers" in item and item["headers"] is not None and not isinstance(item["headers"], dict):
            raise _Malformed(f"Invalid batch payload format. The headers of request '{item['id']}' must be an "
                             f"object.")
        depends = item.get("dependsOn")
        if depends is not None and not (isinstance(depends, list) and all(isinstance(d, str) for d in depends)):
            raise _Malformed(f"Invalid batch payload format. The dependsOn of request '{item['id']}' must be a "
                             f"list of ids.")
    return requests


def _validate(requests: list[dict[str, object]]) -> str | None:
    seen: set[str] = set()
    for item in requests:
        request_id = str(item["id"])
        if request_id.lower() in seen:
            return f"Batch request contains duplicate request id '{request_id}'."
        for dependency in _depends_on(item):
            if str(dependency).lower() not in seen:
                return f"Invalid dependency for request Id {request_id}: request '{dependency}' must come first."
        seen.add(request_id.lower())
        headers = _headers(item)
        method = str(item["method"]).upper()
        if method in _WRITE_METHODS and ("body" not in item or "content-type" not in headers):
            return f"Write request id : {request_id} does not contain Content-Type header or body."
    return None


def _run_one(context: RequestContext, app: SimulatorApp, item: Mapping[str, object]) -> Outcome:
    ids = _inner_ids(context)
    method = str(item["method"]).upper()
    if method not in _METHODS:
        return graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.",
                           ids)
    url = str(item["url"])
    parts = urlsplit(url)
    if parts.scheme or url.startswith("//"):
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{parts.scheme}:'.", ids)
    path = "/" + parts.path.lstrip("/")
    segments = tuple(unquote(segment) for segment in path.strip("/").split("/"))
    if segments and segments[0].lower() == "$batch":
        return graph_error(400, "BadRequest", "A batch request cannot contain another batch request.", ids)
    try:
        body = _body(item)
    except _Malformed as problem:
        return graph_error(400, "BadRequest", str(problem), ids)
    inner = RequestContext(
        method=method, path=path, segments=segments, query=parts.query, headers=_headers(item), body=body, ids=ids,
        service_root=context.service_root, root=context.root, in_batch=True, batch_seq=context.batch_seq)
    return app.dispatch(inner, authenticated=True)


def _response_item(request_id: str, outcome: GraphResponse) -> dict[str, object]:
    headers = {"Cache-Control": "no-cache", **outcome.headers}
    item: dict[str, object] = {"id": request_id, "status": outcome.status, "headers": headers}
    if outcome.body is not None:
        item["body"] = dict(outcome.body)
    return item


def _depends_on(item: Mapping[str, object]) -> list[str]:
    depends = item.get("dependsOn")
    return [str(d) for d in depends] if isinstance(depends, list) else []


def _headers(item: Mapping[str, object]) -> dict[str, str]:
    raw = item.get("headers")
    if not isinstance(raw, dict):
        return {}
    return {str(name).lower(): str(value) for name, value in raw.items()}


def _body(item: Mapping[str, object]) -> bytes | None:
    """A JSON body as its bytes; a string body is base64 (as Graph takes images and other binaries)."""
    if "body" not in item or item["body"] is None:
        return None
    raw = item["body"]
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise _Malformed(f"The body of request '{item['id']}' is neither JSON nor base64.") from None
    return json.dumps(raw).encode("utf-8")


def _inner_ids(context: RequestContext) -> RequestIds:
    # Requests inside a batch share the batch's correlation ids, as Graph's batch answers show.
    return context.ids
