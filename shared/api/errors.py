"""The API's error: a status, a stable code and a one-line message, and the mapping of Tokenwarden's errors.

Every error an HTTP route answers has one JSON shape::

    {"error": {"code": "invalid_body", "message": "...", "details": [...]}, "invocation_id": "..."}

:func:`api_error_for` maps :mod:`shared.core.errors` classes (never their messages) to a status, so a route
raises what the core library raises and the answer is decided in one place. Messages pass through
:func:`redact` before they leave the process, so a connection string or a signed URL that found its way
into an exception is never sent to a caller. This module imports no pydantic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from shared.core.errors import (
    ConfigurationError,
    DataError,
    QueryError,
    RefusedForSafety,
    RuleError,
    ThrottledError,
    TokenwardenError,
    UpstreamError,
)

__all__ = ["MAX_MESSAGE_CHARS", "ApiError", "api_error_for", "error_envelope", "redact"]

MAX_MESSAGE_CHARS = 500

_SECRETS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Storage connection strings: every key=value part that can carry a credential.
    (re.compile(r"(?i)\b(AccountKey|SharedAccessSignature|SharedAccessKey|Password|Pwd|ClientSecret)=[^;\s\"']*"),
     r"\1=[redacted]"),
    # SAS and workflow signatures in URLs (Teams/Logic App webhooks carry sig=...), function keys (code=).
    (re.compile(r"(?i)([?&](?:sig|signature|code|key|token|sv|se|sp)=)[^&\s\"']*"), r"\1[redacted]"),
    # Bearer tokens and JWT-shaped strings.
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*"), "[redacted token]"),
)


def redact(text: str) -> str:
    """*text* on one line, at most :data:`MAX_MESSAGE_CHARS`, with credential-shaped parts replaced."""
    one_line = " ".join(text.split())
    for pattern, replacement in _SECRETS:
        one_line = pattern.sub(replacement, one_line)
    if len(one_line) > MAX_MESSAGE_CHARS:
        one_line = one_line[: MAX_MESSAGE_CHARS - 1] + "…"
    return one_line


class ApiError(TokenwardenError):
    """An HTTP answer other than success: ``status``, a stable snake_case ``code`` and a one-line message.

    ``details`` (a list of JSON objects, e.g. one per invalid field) and ``headers`` (``Retry-After``)
    are optional. ``who`` is what a refusal knew of the caller (claimed and verified names, escaped), for its
    audit row (:mod:`shared.audit.refusals`); it is never sent to the caller.
    """

    def __init__(self, status: int, code: str, message: str, *, details: Sequence[Mapping[str, Any]] = (),
                 headers: Mapping[str, str] | None = None, who: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.details = tuple(details)
        self.headers = dict(headers or {})
        self.who = dict(who or {})


def error_envelope(error: ApiError, invocation_id: str) -> dict[str, Any]:
    """The JSON body for *error*: ``{"error": {...}, "invocation_id": ...}``."""
    body: dict[str, Any] = {"code": error.code, "message": redact(str(error))}
    if error.details:
        body["details"] = [dict(d) for d in error.details]
    return {"error": body, "invocation_id": invocation_id}


def _retry_after(seconds: float | None) -> dict[str, str]:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def api_error_for(exc: BaseException) -> ApiError | None:
    """The answer for a known error class, or None for an unexpected one (a bug: the caller answers 500).

    - :class:`ApiError`: itself.
    - ``InvalidTransition`` (the case lifecycle refuses the move) and :class:`RefusedForSafety`: 409.
    - :class:`DataError`: 422 (the body parsed, but what it says cannot be used).
    - :class:`ConfigurationError`, :class:`RuleError`: 503 ``not_configured`` (the deployment, not the caller).
    - :class:`ThrottledError`: 429 with ``Retry-After``; :class:`QueryError`: 502.
    - :class:`UpstreamError`: 503 when the service is unavailable (5xx, a timeout, no status), else 502.
    - azure-core's errors from the ledger (Table Storage): 503 ``ledger_unavailable``.
    """
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, TokenwardenError):
        from shared.cases.model import InvalidTransition

        if isinstance(exc, InvalidTransition):
            return ApiError(409, "conflict", str(exc))
        if isinstance(exc, RefusedForSafety):
            return ApiError(409, "refused_for_safety", str(exc))
        if isinstance(exc, DataError):
            return ApiError(422, "invalid_data", str(exc))
        if isinstance(exc, ConfigurationError | RuleError):
            return ApiError(503, "not_configured", f"not configured: {exc}")
        if isinstance(exc, ThrottledError):
            return ApiError(429, "throttled", str(exc), headers=_retry_after(exc.retry_after) or {"Retry-After": "5"})
        if isinstance(exc, QueryError):
            return ApiError(502, "query_failed", str(exc))
        if isinstance(exc, UpstreamError):
            unavailable = exc.status is None or exc.status >= 500
            return ApiError(503 if unavailable else 502, "upstream_unavailable" if unavailable else "upstream_error",
                            str(exc), headers=_retry_after(exc.retry_after))
        return None
    return _azure_error(exc)


def _azure_error(exc: BaseException) -> ApiError | None:
    try:
        from azure.core.exceptions import AzureError, HttpResponseError
    except ImportError:  # pragma: no cover - azure-core is a runtime dependency
        return None
    if not isinstance(exc, AzureError):
        return None
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    if status == 429:
        return ApiError(429, "throttled", "the ledger (Table Storage) is throttling requests",
                        headers={"Retry-After": "5"})
    shown = f" (status {status})" if status else ""
    return ApiError(503, "ledger_unavailable", f"the ledger (Table Storage) could not be reached{shown}: "
                    f"{type(exc).__name__}")
