"""Microsoft Graph's response envelope and error bodies, independent of HTTP plumbing.

Handlers return a :class:`GraphResponse`; the HTTP server and the ``$batch``
handler both turn it into bytes, so a request answered inside a batch looks the
same as one answered on its own. Error bodies follow what Graph sends (see
``concepts/errors.md`` and recorded responses)::

    {"error": {"code": "Request_ResourceNotFound", "message": "...",
               "innerError": {"date": "2024-06-15T09:51:54",
                              "request-id": "...", "client-request-id": "..."}}}

``date`` is UTC without a zone suffix, as Graph writes it; ``client-request-id``
echoes the caller's header or, without one, repeats ``request-id``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "ERROR_CONTENT_TYPE",
    "ODATA_CONTENT_TYPE",
    "GraphResponse",
    "RequestIds",
    "error_body",
    "graph_error",
    "json_response",
]

ODATA_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
"""The Content-Type Graph sends with OData payloads (entities and collections)."""
ERROR_CONTENT_TYPE = "application/json"


@dataclass(frozen=True, kw_only=True)
class RequestIds:
    """The correlation values Graph puts in every error and in the response headers."""

    request_id: str
    client_request_id: str
    date: datetime

    @property
    def graph_date(self) -> str:
        return self.date.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class GraphResponse:
    status: int
    body: Mapping[str, object] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")

    def with_headers(self, extra: Mapping[str, str]) -> GraphResponse:
        return GraphResponse(self.status, self.body, {**self.headers, **extra})

    @property
    def content_type(self) -> str | None:
        return next((value for key, value in self.headers.items() if key.lower() == "content-type"), None)


def json_response(body: Mapping[str, object], *, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> GraphResponse:
    return GraphResponse(status, body, {"Content-Type": ODATA_CONTENT_TYPE, "OData-Version": "4.0", **(headers or {})})


def error_body(code: str, message: str, ids: RequestIds, *,
               inner: Mapping[str, str] | None = None) -> dict[str, object]:
    inner_error: dict[str, str] = {
        **(inner or {}),
        "date": ids.graph_date,
        "request-id": ids.request_id,
        "client-request-id": ids.client_request_id,
    }
    return {"error": {"code": code, "message": message, "innerError": inner_error}}


def graph_error(
    status: int,
    code: str,
    message: str,
    ids: RequestIds,
    *,
    headers: Mapping[str, str] | None = None,
    inner: Mapping[str, str] | None = None,
) -> GraphResponse:
    return GraphResponse(
        status, error_body(code, message, ids, inner=inner), {"Content-Type": ERROR_CONTENT_TYPE, **(headers or {})}
    )
