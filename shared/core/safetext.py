"""Text from callers made safe to keep: no credential in it, and one line when it goes into a log.

Two threats, two functions:

* :func:`scrub_secrets` - a caller pastes a bearer token or a signed JWT into a reason, a comment, a name or a
  user agent. A signed JWT keeps its header and claims (an analyst may need ``kid``, ``iss`` or ``uti``) and loses
  its signature, so it can never be replayed from a log, an audit row, the ledger or an API answer; any other
  bearer credential is replaced whole.
* :func:`one_line` - caller text with CR, LF or another control character could start what looks like a second
  log or audit line. Every such character (C0, DEL, C1, the Unicode line and paragraph separators, and lone
  surrogates, which no encoder accepts) is written as a visible escape (``\\n``, ``\\x1b``, ``\\u2028``). Only a
  real line break can start a line, and none is left.

:func:`install_log_scrubber` applies both to every ``tokenwarden.*`` log record's message, whatever a call site
passed, so a call site that forgets cannot leak or forge a line. Nothing here imports more than ``re``.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["SIGNATURE_REMOVED", "caller_text", "install_log_scrubber", "one_line", "scrub_secrets"]

SIGNATURE_REMOVED = "[signature removed]"
"""What stands where a JWT's signature was."""

_JWT = re.compile(r"(eyJ[A-Za-z0-9_-]{2,})\.([A-Za-z0-9_-]{2,})\.[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]+){0,2}")
"""A compact JWS (``header.claims.signature``; the header is base64url JSON, so it starts ``eyJ``); the two
optional parts make a five-part JWE match too, so none of its ciphertext is kept either."""
_BEARER = re.compile(r"(?i)\b(bearer\s+)(?!eyJ)[A-Za-z0-9._~+/=-]{8,}")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def scrub_secrets(text: str) -> str:
    """*text* with every signed JWT cut to ``header.claims.[signature removed]`` and other bearer tokens redacted."""
    if "eyJ" not in text and "earer" not in text and "EARER" not in text:
        return text
    text = _JWT.sub(lambda m: f"{m.group(1)}.{m.group(2)}.{SIGNATURE_REMOVED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)}[redacted]", text)


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def one_line(text: str, *, limit: int | None = None) -> str:
    """*text* with control characters, line separators and lone surrogates escaped; cut at *limit*."""
    escaped = _UNSAFE.sub(_escape, text)
    if limit is not None and len(escaped) > limit:
        return escaped[: max(0, limit - 1)] + "…"
    return escaped


def caller_text(text: object, *, limit: int = 500) -> str:
    """Anything a caller sent, ready for a log line: secrets scrubbed, one line, at most *limit* characters."""
    return one_line(scrub_secrets(str(text)), limit=limit)


_installed: set[str] = set()
"""The prefixes whose records are scrubbed already."""
_install_lock = threading.Lock()


def install_log_scrubber(prefix: str = "tokenwarden") -> None:
    """Scrub and one-line the message of every log record whose logger is *prefix* or under it; idempotent.

    It wraps the process's log record factory (a filter on a logger would miss its children's records), and
    formats the message once, so handlers see the safe text with no arguments left to format.
    """
    with _install_lock:
        if prefix in _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if record.name == prefix or record.name.startswith(prefix + "."):
                try:
                    message = record.getMessage()
                except Exception:  # a bad format string: leave it for logging to report as it always does
                    return record
                record.msg = one_line(scrub_secrets(message))
                record.args = None
            return record

        logging.setLogRecordFactory(factory)
        _installed.add(prefix)
