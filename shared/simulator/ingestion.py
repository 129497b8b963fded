"""The Azure Monitor Logs Ingestion API, as a data collection endpoint answers it.

``POST /dataCollectionRules/{immutableId}/streams/{stream}?api-version=2023-01-01``

* ``api-version`` must be ``2023-01-01`` (400 otherwise, or when it is missing);
* ``Authorization: Bearer <token>`` is required (401 without one); the token is not validated;
* the body is a JSON array of objects, plain or gzip (``Content-Encoding: gzip``); anything else is a 400;
* more than 1 MB on the wire, or once decompressed, is a 413 (the service's per-call limit; the SDK splits
  its uploads into chunks of at most 1 MiB of uncompressed JSON);
* on success the rows are appended to ``state.ingested["{immutableId}/{stream}"]`` and the answer is
  204 with no body, as the service answers.

The simulator does not check rows against a stream declaration (the service drops columns the
declaration lacks); tests assert the columns themselves. Injected faults
(``faults.fail("/dcr-*/streams/*", status=429, retry_after=1)``) apply as anywhere.
"""

from __future__ import annotations

import gzip
import json
import zlib
from urllib.parse import parse_qs

from shared.simulator.arm import arm_error
from shared.simulator.responses import GraphResponse
from shared.simulator.routing import RequestContext, Route, Router, SimulatorApp

__all__ = ["INGESTION_API_VERSION", "INGESTION_ROOT", "MAX_CALL_BYTES", "ingestion_key", "ingestion_router"]

INGESTION_ROOT = "dataCollectionRules"
INGESTION_API_VERSION = "2023-01-01"
MAX_CALL_BYTES = 1024 * 1024
"""1 MB per call, compressed or not."""


def ingestion_key(rule_id: str, stream: str) -> str:
    """The key of ``state.ingested``: ``{immutableId}/{stream}``."""
    return f"{rule_id}/{stream}"


def ingestion_router() -> Router:
    router = Router()
    router.add(Route(method="POST", template="/{rule}/streams/{stream}", handler=ingest))
    return router


def ingest(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    scheme, _, token = (context.header("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return arm_error(401, "InvalidAuthenticationToken", "A bearer token for https://monitor.azure.com is required.",
                         headers={"WWW-Authenticate": 'Bearer realm="monitor"'})
    versions = parse_qs(context.query).get("api-version")
    if not versions or versions[0] != INGESTION_API_VERSION:
        return arm_error(400, "InvalidApiVersion",
                         f"The api-version must be {INGESTION_API_VERSION}; got {versions[0] if versions else 'none'}.")
    raw = context.body or b""
    if len(raw) > MAX_CALL_BYTES:
        return _too_large(len(raw))
    encoding = (context.header("content-encoding") or "").strip().lower()
    if encoding == "gzip":
        try:
            # Bounded: a body that inflates past the limit is refused, not held in memory.
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            text = inflater.decompress(raw, MAX_CALL_BYTES + 1)
            if len(text) > MAX_CALL_BYTES or inflater.unconsumed_tail:
                return _too_large(len(text))
        except (zlib.error, gzip.BadGzipFile, EOFError):
            return arm_error(400, "InvalidContentEncoding", "The body is not valid gzip.")
    elif encoding in ("", "identity"):
        text = raw
    else:
        return arm_error(400, "InvalidContentEncoding", f"Content-Encoding {encoding!r} is not supported.")
    try:
        rows = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return arm_error(400, "InvalidPayload", "The body must be a JSON array of objects.")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        return arm_error(400, "InvalidPayload", "The body must be a JSON array of objects.")
    rule, stream = context.params["rule"], context.params["stream"]
    with app.state.lock:
        app.state.ingested.setdefault(ingestion_key(rule, stream), []).extend(rows)
        app.state.record_write("ingestLogs", ingestion_key(rule, stream), context.ids.date, count=len(rows))
    return GraphResponse(204)


def _too_large(size: int) -> GraphResponse:
    return arm_error(413, "ContentLengthLimitExceeded",
                     f"The request body is {size} bytes; a call may carry at most {MAX_CALL_BYTES} bytes.")
