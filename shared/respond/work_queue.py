"""The respond queue's message: one case that needs work, as the scan timer puts it and the worker reads it.

One message per case lets a large incident fan out across instances: the
Functions host hands queue messages to as many workers as it scales to. The
body is small, versioned JSON; anything else is refused with a one-line reason
(the host retries it and, after ``maxDequeueCount``, parks it on the poison
queue, where the poison worker records it; nothing is dropped).

A message queued by an HTTP request (``POST /respond``, the Sentinel intake) also carries what the request
decided and the worker must keep: the narrowed ``mode``, the request's own ``approved_by`` (an approved
manual respond), its ``actor`` and its ``run`` id, so a retried request is the same run. The queue lives in
the app's own storage account, writable only by the app's identity.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from shared.core.errors import DataError
from shared.core.timeparse import supported_instant
from shared.ledger.codec import check_key

__all__ = ["MESSAGE_VERSION", "WorkItem", "parse_work_item"]

MESSAGE_VERSION = 1
MAX_MESSAGE_BYTES = 8 * 1024


_CARRIED = ("mode", "approved_by", "actor", "run")
_MAX_CARRIED_CHARS = 200


@dataclass(frozen=True, kw_only=True)
class WorkItem:
    case_id: str
    queued_at: datetime
    reason: str
    mode: str | None = None
    approved_by: str | None = None
    actor: str | None = None
    run: str | None = None

    def to_json(self) -> str:
        carried = {name: getattr(self, name) for name in _CARRIED if getattr(self, name) is not None}
        return json.dumps({"version": MESSAGE_VERSION, "case_id": self.case_id,
                           "queued_at": self.queued_at.isoformat(), "reason": self.reason, **carried},
                          separators=(",", ":"))

    def run_id(self, message_id: str | None) -> str:
        """The run the request named, else the queue message id (kept across the host's retries), else a hash."""
        if self.run:
            return self.run
        if message_id:
            return f"queue:{message_id}"
        digest = hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:24]
        return f"queue:{digest}"


def parse_work_item(body: bytes | str) -> WorkItem:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DataError(f"respond message is {len(raw)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"respond message is not JSON: {exc}") from None
    except RecursionError:
        raise DataError("respond message is nested too deeply to be JSON it could be") from None
    if not isinstance(data, dict):
        raise DataError("respond message must be a JSON object")
    if data.get("version") != MESSAGE_VERSION:
        raise DataError(f"respond message version {data.get('version')!r} is not {MESSAGE_VERSION}")
    case_id = data.get("case_id")
    if not isinstance(case_id, str) or not case_id.strip() or len(case_id) > 200:
        raise DataError("respond message field 'case_id' must be a non-empty string of at most 200 characters")
    check_key(case_id.strip(), "respond message field 'case_id'")  # a table key: no / \\ # ? or control character
    try:
        queued_at = supported_instant(datetime.fromisoformat(str(data.get("queued_at"))))
    except ValueError as exc:
        raise DataError(f"respond message field 'queued_at': {str(exc)[:200]}") from None
    carried: dict[str, str | None] = {}
    for name in _CARRIED:
        value = data.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > _MAX_CARRIED_CHARS):
            raise DataError(f"respond message field {name!r} must be a non-empty string of at most "
                            f"{_MAX_CARRIED_CHARS} characters")
        carried[name] = value.strip() if isinstance(value, str) else None
    return WorkItem(case_id=case_id.strip(), queued_at=queued_at, reason=str(data.get("reason") or "")[:500],
                    **carried)
