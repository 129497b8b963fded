"""Request handling shared by every route: body limits, JSON parsing, validation and the error envelope.

A route adapter in ``functions/`` is one call::

    return handle(req, context, lambda call: list_cases(call, load_settings(environ)))

:func:`handle` gives the handler an :class:`ApiCall` (the request and the invocation id), turns what the
handler returns into a JSON response, and turns every exception into the JSON error envelope
(:mod:`shared.api.errors`): an :class:`ApiError` or a known Tokenwarden error as its 4xx/5xx, anything else
as a 500 whose traceback is logged, never sent. A 500 is a bug: no request may reach it.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.api.errors import ApiError, api_error_for, error_envelope

if TYPE_CHECKING:
    import azure.functions as func

__all__ = [
    "MAX_BODY_BYTES",
    "ApiCall",
    "Reply",
    "handle",
    "json_response",
    "parse_body",
    "parse_query",
    "read_json",
    "validation_error",
]

MAX_BODY_BYTES = 256 * 1024
"""Largest request body any route reads; a larger one is answered 413 before it is parsed."""
MAX_ERROR_DETAILS = 20
JSON_TYPE = "application/json"

log = logging.getLogger("tokenwarden.api")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ApiCall:
    """What a handler gets: the request and the invocation id to put in logs and records."""

    request: func.HttpRequest
    invocation_id: str

    def route_param(self, name: str) -> str:
        return str((self.request.route_params or {}).get(name, ""))


@dataclass(frozen=True)
class Reply:
    """A handler's answer when it is not a plain 200: a status, headers, or a body that is not a model."""

    body: BaseModel | Mapping[str, Any]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


def _invocation_id(context: object | None) -> str:
    value = getattr(context, "invocation_id", None)
    return str(value) if value else f"local-{uuid.uuid4()}"


def json_response(body: BaseModel | Mapping[str, Any], *, status: int, invocation_id: str,
                  headers: Mapping[str, str] | None = None) -> func.HttpResponse:
    import azure.functions as func

    text = body.model_dump_json() if isinstance(body, BaseModel) else json.dumps(body, default=str)
    all_headers = {"X-Invocation-Id": invocation_id, "Cache-Control": "no-store",
                   "X-Content-Type-Options": "nosniff", **(headers or {})}
    return func.HttpResponse(text, status_code=status, headers=all_headers, mimetype=JSON_TYPE, charset="utf-8")


def _error_response(error: ApiError, invocation_id: str) -> func.HttpResponse:
    return json_response(error_envelope(error, invocation_id), status=error.status, invocation_id=invocation_id,
                         headers=error.headers)


def handle(req: func.HttpRequest, context: object | None, handler: Callable[[ApiCall], BaseModel | Reply], *,
           on_refusal: Callable[[ApiCall, ApiError], None] | None = None) -> func.HttpResponse:
    """Run *handler* and answer JSON, whatever happens; see the module docstring. *on_refusal* is called with
    each 4xx answered (the response-path routes audit them as rows: :func:`shared.api.caller.audit_refusals`);
    it must not raise, and the answer stands whatever it does."""
    call = ApiCall(request=req, invocation_id=_invocation_id(context))
    try:
        result = handler(call)
    except Exception as exc:
        error = api_error_for(exc)
        if error is None:
            log.exception("unhandled error in %s %s (invocation %s)", req.method, _path(req), call.invocation_id)
            error = ApiError(500, "internal_error",
                             "an unexpected error occurred; the invocation id finds its log entry")
        elif error.status >= 500:
            log.warning("%s %s answered %d %s: %s", req.method, _path(req), error.status, error.code,
                        error_envelope(error, call.invocation_id)["error"]["message"])
        elif on_refusal is not None:
            try:
                on_refusal(call, error)
            except Exception:
                log.exception("recording the refusal of %s %s failed (invocation %s)", req.method, _path(req),
                              call.invocation_id)
        return _error_response(error, call.invocation_id)
    if isinstance(result, Reply):
        return json_response(result.body, status=result.status, invocation_id=call.invocation_id,
                             headers=result.headers)
    return json_response(result, status=200, invocation_id=call.invocation_id)


def _path(req: func.HttpRequest) -> str:
    """The URL's path, without the query string (which may carry the function key)."""
    from urllib.parse import urlsplit

    try:
        return str(urlsplit(str(req.url)).path)
    except ValueError:
        return "?"


def _content_type(req: func.HttpRequest) -> str:
    declared: str = req.headers.get("content-type") or ""
    return declared.split(";", 1)[0].strip().lower()


def read_json(req: func.HttpRequest, *, limit: int = MAX_BODY_BYTES) -> Any:
    """The request body as JSON: 413 past *limit*, 415 for a non-JSON content type, 400 if it does not parse.

    A missing content type is accepted (some clients send none); NaN and Infinity are refused, being no JSON.
    """
    declared = req.headers.get("content-length")
    if declared and declared.strip().isdigit() and int(declared.strip()) > limit:
        raise ApiError(413, "body_too_large", f"the request body is over {limit} bytes")
    body = req.get_body() or b""
    if len(body) > limit:
        raise ApiError(413, "body_too_large", f"the request body is over {limit} bytes")
    kind = _content_type(req)
    if kind and kind != JSON_TYPE and not kind.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", f"send the body as {JSON_TYPE}")
    if not body.strip():
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        document = json.loads(body, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json",
                       f"the request body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None
    except ValueError as exc:  # not UTF-8/16/32, an integer past the digit limit, NaN
        reason = "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc).split("\n")[0][:120]
        raise ApiError(400, "invalid_json", f"the request body is not JSON: {reason}") from None
    if _holds_lone_surrogate(document):
        raise ApiError(422, "invalid_body", "the request body holds a string with a lone surrogate (\\ud800 to "
                       "\\udfff unpaired): it is no Unicode text and cannot be stored or sent on")
    return document


_SURROGATE = re.compile("[\ud800-\udfff]")


def _holds_lone_surrogate(document: Any) -> bool:
    """Whether any string (value or key) in *document* holds an unpaired surrogate, which JSON's ``\\uXXXX``
    escapes allow but no UTF encoder does. Iterative: the parser already bounded the depth."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def validation_error(exc: ValidationError, *, where: str, code: str = "invalid_body") -> ApiError:
    """422 listing each invalid field (location and message, never the submitted value)."""
    details = []
    for item in exc.errors(include_url=False, include_input=False, include_context=False)[:MAX_ERROR_DETAILS]:
        loc = ".".join([where, *(str(part)[:64] for part in item["loc"])])
        details.append({"loc": loc, "msg": str(item["msg"])[:300]})
    count = exc.error_count()
    first = f"{details[0]['loc']}: {details[0]['msg']}" if details else "invalid"
    more = f" (and {count - 1} more)" if count > 1 else ""
    return ApiError(422, code, f"{first}{more}", details=details)


def parse_body(req: func.HttpRequest, model: type[M], *, limit: int = MAX_BODY_BYTES) -> M:
    """The body validated as *model*: 413, 415 and 400 from :func:`read_json`, 422 if it does not validate."""
    data = read_json(req, limit=limit)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, where="body") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the request body is nested too deeply") from None


def parse_query(req: func.HttpRequest, model: type[M]) -> M:
    """The query string validated as *model* (422 ``invalid_query`` if not); a repeated name keeps its last value."""
    params = {str(k): str(v) for k, v in (req.params or {}).items()}
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise validation_error(exc, where="query", code="invalid_query") from None
