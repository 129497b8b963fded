"""The Azure Monitor Logs Ingestion API, as a data collection endpoint answers it.

``POST /dataCollectionRules/{immutableId}/streams/{stream}?api-version=2023-01-01``

* ``api-version`` must be ``2023-01-01`` (400 otherwise, or when it is missing);
* ``Authorization: Bearer <token>`` for the Logs Ingestion audience (shared/core/clouds.py) is required (401
  without one, or for another audience); the token's signature is not validated;
* the rule must be one ``state.data_collection_rules`` declares (404 ``NotFound``, "Data collection rule
  with immutable Id '...' not found.", the service's words as the Azure SDKs' recorded tests show), and the
  stream one that rule declares (400 ``InvalidStream``: the simulator's wording; the service's text for an
  undeclared stream is not documented);
* the body is a JSON array of objects, plain or gzip (``Content-Encoding: gzip``); anything else is a 400;
* more than 1 MB on the wire, or once decompressed, is a 413 (the service's per-call limit; the SDK splits
  its uploads into chunks of at most 1 MiB of uncompressed JSON);
* on success the rows are appended to ``state.ingested["{immutableId}/{stream}"]`` and the answer is
  204 with no body, as the service answers.

Each row keeps only the columns its stream declares; the others are dropped, as the service drops what
the declaration lacks (with a DCR whose transform is ``source``). :func:`deployment_streams` gives the
streams infra/monitoring/data-collection.bicep declares, from the same shared/schemas files. Injected faults
(``faults.fail("/dcr-*/streams/*", status=429, retry_after=1)``) apply as anywhere.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from urllib.parse import parse_qs

from shared.core.clouds import AZURE_PUBLIC
from shared.devkit.simulator.arm import arm_error
from shared.devkit.simulator.responses import GraphResponse
from shared.devkit.simulator.routing import RequestContext, Route, Router, SimulatorApp
from shared.devkit.simulator.sinks import bearer_audience

__all__ = ["INGESTION_API_VERSION", "INGESTION_ROOT", "MAX_CALL_BYTES", "deployment_streams", "ingestion_key",
           "ingestion_router"]

INGESTION_ROOT = "dataCollectionRules"
INGESTION_API_VERSION = "2023-01-01"
_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
MAX_CALL_BYTES = 1024 * 1024
"""1 MB per call, compressed or not."""


def ingestion_key(rule_id: str, stream: str) -> str:
    """The key of ``state.ingested``: ``{immutableId}/{stream}``."""
    return f"{rule_id}/{stream}"


def ingestion_router() -> Router:
    router = Router()
    router.add(Route(method="POST", template="/{rule}/streams/{stream}", handler=ingest))
    return router


def deployment_streams() -> dict[str, tuple[str, ...]]:
    """The streams Tokenwarden's DCR declares (data-collection.bicep loads the same schema files): name -> columns."""
    streams: dict[str, tuple[str, ...]] = {}
    for table in ("TokenValidation_CL", "TokenwardenAudit_CL"):
        schema = json.loads((_SCHEMAS / f"{table}.json").read_text(encoding="utf-8"))
        streams[f"Custom-{schema['table']}"] = tuple(str(column["name"]) for column in schema["columns"])
    return streams


def ingest(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    audience = AZURE_PUBLIC.logs_ingestion_audience
    if bearer_audience(context) != audience:
        return arm_error(401, "InvalidAuthenticationToken", f"A bearer token for {audience} is required.",
                         headers={"WWW-Authenticate": 'Bearer realm="monitor"'})
    rule, stream = context.params["rule"], context.params["stream"]
    with app.state.lock:
        declared = app.state.data_collection_rules.get(rule)
    if declared is None:
        return arm_error(404, "NotFound", f"Data collection rule with immutable Id '{rule}' not found.")
    if stream not in declared:
        return arm_error(400, "InvalidStream", f"Stream '{stream}' is not declared in data collection rule '{rule}'.")
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
    columns = declared[stream]
    rows = [{name: value for name, value in row.items() if name in columns} for row in rows]
    with app.state.lock:
        app.state.ingested.setdefault(ingestion_key(rule, stream), []).extend(rows)
        app.state.record_write("ingestLogs", ingestion_key(rule, stream), context.ids.date, count=len(rows))
    return GraphResponse(204)


def _too_large(size: int) -> GraphResponse:
    return arm_error(413, "ContentLengthLimitExceeded",
                     f"The request body is {size} bytes; a call may carry at most {MAX_CALL_BYTES} bytes.")
