"""Encoding values for Table Storage within its limits.

Table Storage forbids ``/ \\ # ?`` and control characters in keys (at most 1 KiB each), holds a string
property up to 64 KiB (UTF-16, so 32 Ki characters) and an entity up to 1 MiB. Structured fields are
stored as ASCII-only JSON strings (one UTF-16 unit per character) capped below that limit, and keys
built from arbitrary values are hashes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shared.core.errors import DataError
from shared.core.safetext import scrub_secrets

__all__ = [
    "MAX_JSON_CHARS",
    "MAX_TEXT_CHARS",
    "check_key",
    "clip",
    "dump_json",
    "evidence_json",
    "format_time",
    "load_json",
    "parse_time",
]

MAX_JSON_CHARS = 30_000
"""Below the 32 Ki UTF-16 units a string property may hold, with room to spare."""
MAX_TEXT_CHARS = 4_096
"""Any single text field copied from logs (issuer, UPN, user agent...) is clipped to this."""
_MAX_KEY_CHARS = 1_024
_FORBIDDEN_KEY = re.compile("[/\\\\#?\x00-\x1f\x7f-\x9f\ud800-\udfff]")
"""Table Storage refuses / \\ # ? and U+0000-U+001F, U+007F-U+009F in PartitionKey and RowKey, and keys are at
most 1 KiB ("Understanding the Table service data model", learn.microsoft.com/rest/api/storageservices/
understanding-the-table-service-data-model); a lone surrogate is no text at all and cannot even be sent."""


def check_key(value: str, what: str) -> str:
    """*value* if Table Storage accepts it as a PartitionKey or RowKey; DataError naming *what* if not."""
    if not value or len(value) > _MAX_KEY_CHARS or _FORBIDDEN_KEY.search(value):
        raise DataError(f"{what} {value[:80]!r} cannot be a table key (empty, over 1 KiB, or holds / \\ # ?, "
                        "a control character or a lone surrogate)")
    return value


def clip(value: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    """Text for a string property: None becomes '', anything longer than *limit* is cut."""
    if value is None:
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def format_time(value: datetime) -> str:
    """Fixed-width UTC ISO 8601 with microseconds, so stored times also sort as strings."""
    if value.tzinfo is None:
        raise DataError(f"refusing to store a naive datetime {value.isoformat()}: times are UTC-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object, what: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    raise DataError(f"stored {what} is not a time: {str(value)[:80]!r}")


def dump_json(value: object, what: str, limit: int = MAX_JSON_CHARS) -> str:
    """ASCII JSON for a string property, credentials scrubbed; DataError if not bounded below *limit*."""
    text = scrub_secrets(json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True, default=str))
    if len(text) > limit:
        raise DataError(f"{what} is {len(text)} characters as JSON; the ledger stores at most {limit}")
    return text


def load_json(value: object, what: str) -> Any:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DataError(f"stored {what} is not JSON text")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise DataError(f"stored {what} is not valid JSON: {exc.msg}") from None


def evidence_json(evidence: Mapping[str, Any], limit: int = MAX_JSON_CHARS) -> str:
    """A rule's evidence as JSON; evidence too large to store is kept as a marked, clipped preview.

    Evidence can carry caller text (a manual request's reason, an app's reported user agent, a Sentinel incident's
    description): a signed JWT in it keeps only header and claims, and a bearer token is redacted.
    """
    text = scrub_secrets(json.dumps(evidence, ensure_ascii=True, separators=(",", ":"), sort_keys=True, default=str))
    if len(text) <= limit:
        return text
    preview = text[: (limit - 200) // 2]  # embedding JSON in a string at most doubles it (escaped quotes)
    return dump_json({"truncated": True, "original_chars": len(text), "preview": preview}, "evidence", limit)
