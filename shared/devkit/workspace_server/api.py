"""The Log Analytics query API's request and response bodies, independent of HTTP plumbing.

Shapes follow the service's published schema (``QueryResults`` and
``ErrorResponse`` in the ``OperationalInsights`` data-plane spec) and its
recorded responses in the ``azure-sdk-for-python`` test suite:

* success: ``{"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}],
  "rows": [[...]]}]}`` with cells encoded by :mod:`shared.detect.kql.wire`;
* partial success: the same with HTTP 200 and an ``"error"`` whose code is
  ``PartialError`` and whose ``details`` say what went wrong;
* failure: ``{"error": {"code", "message", "correlationId", "innererror":
  {...}}}``, e.g. 400 ``BadArgumentError`` with an inner ``SyntaxError`` or
  ``SemanticError`` carrying the specific message (the SDK reports the
  innermost message).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from shared.core.errors import QueryError
from shared.detect.kql.wire import encode_cell
from shared.detect.logsources.base import PartialResult, ResultTable
from shared.detect.logsources.duckdb.timespan import TimespanError, intersect, parse_timespan

if TYPE_CHECKING:
    from shared.detect.logsources.local import LocalWorkspace

__all__ = ["ApiResponse", "QueryRequest", "error_response", "parse_body", "run_query"]

_INVALID_PROPERTIES = "The request had some invalid properties"
_INNER_BY_KIND = {
    "syntax": "SyntaxError",
    "semantic": "SemanticError",
    "parameter": "SemanticError",
    "refused": "SemanticError",
    "engine": "EngineError",
}


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: Mapping[str, object]

    def encode(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class QueryRequest:
    query: str
    timespan: str | None
    workspaces: tuple[str, ...]


def error_response(status: int, code: str, message: str, *, inner: tuple[str, str] | None = None) -> ApiResponse:
    error: dict[str, object] = {"message": message, "code": code, "correlationId": str(uuid.uuid4())}
    if inner is not None:
        error["innererror"] = {"code": inner[0], "message": inner[1]}
    return ApiResponse(status, {"error": error})


def bad_request(inner_code: str, message: str) -> ApiResponse:
    return error_response(400, "BadArgumentError", _INVALID_PROPERTIES, inner=(inner_code, message))


def parse_body(raw: bytes) -> QueryRequest | ApiResponse:
    """The POST body as a request, or the 400 response it deserves."""
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return bad_request("InvalidRequestBody", f"The request body is not valid JSON: {exc}")
    if not isinstance(document, dict):
        return bad_request("InvalidRequestBody", "The request body must be a JSON object")
    query, timespan, workspaces = document.get("query"), document.get("timespan"), document.get("workspaces")
    if not isinstance(query, str) or not query.strip():
        return bad_request("MissingQuery", "The request body must have a non-empty 'query' string")
    if timespan is not None and not isinstance(timespan, str):
        return bad_request("InvalidTimespan", "'timespan' must be an ISO 8601 interval string")
    if workspaces is None:
        workspaces = []
    if not isinstance(workspaces, list) or not all(isinstance(item, str) for item in workspaces):
        return bad_request("InvalidWorkspaces", "'workspaces' must be a list of workspace ids")
    return QueryRequest(query=query, timespan=timespan, workspaces=tuple(workspaces))


def run_query(
    workspace: LocalWorkspace,
    request: QueryRequest,
    *,
    workspace_id: str,
    extra_timespan: str | None,
    now: datetime,
) -> ApiResponse:
    """Run ``request`` on ``workspace`` and shape the answer as Log Analytics would."""
    foreign = [item for item in request.workspaces if item.lower() != workspace_id.lower()]
    if foreign:
        return bad_request("InvalidWorkspaces", f"Cross-workspace queries are not supported here: {foreign}")
    try:
        timespan = intersect(
            parse_timespan(request.timespan, now=now) if request.timespan else None,
            parse_timespan(extra_timespan, now=now) if extra_timespan else None,
        )
    except TimespanError as exc:
        return bad_request("InvalidTimespan", str(exc))
    try:
        outcome = workspace.run_received(request.query, timespan=timespan, label="query")
    except QueryError as exc:
        kind = getattr(exc, "kind", "semantic")
        detail = getattr(exc, "detail", exc.message)
        return bad_request(_INNER_BY_KIND.get(kind, "SemanticError"), detail)
    if isinstance(outcome, PartialResult):
        body = _tables(outcome.partial_table)
        body["error"] = _partial_error(outcome)
        return ApiResponse(200, body)
    return ApiResponse(200, _tables(outcome.table))


def _tables(table: ResultTable) -> dict[str, object]:
    types = table.column_types
    return {
        "tables": [
            {
                "name": table.name,
                "columns": [{"name": name, "type": kind} for name, kind in zip(table.columns, types, strict=True)],
                "rows": [
                    [encode_cell(kind, value) for kind, value in zip(types, row, strict=True)] for row in table.rows
                ],
            }
        ]
    }


def _partial_error(outcome: PartialResult) -> dict[str, object]:
    details = [
        {
            "code": "EngineError",
            "message": "Something went wrong processing your query on the server.",
            "innererror": {"code": _engine_code(message), "message": message, "severity": 2, "severityName": "Error"},
        }
        for message in (outcome.error, *outcome.details)
    ]
    return {
        "code": "PartialError",
        "message": "There were some errors when processing your query.",
        "details": details,
    }


def _engine_code(message: str) -> str:
    return "E_QUERY_RESULT_SET_TOO_LARGE" if "E_QUERY_RESULT_SET_TOO_LARGE" in message else "EngineError"
