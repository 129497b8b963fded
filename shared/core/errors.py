"""Tokenwarden's error tree: one base with a one-line message and an optional location.

Adapters map each class to an outcome (an HTTP 4xx or 5xx, CLI exit code 2)
without inspecting messages, so the class is the contract. Constructors only
store what they are given: no I/O, no logging.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "DataError",
    "QueryError",
    "RefusedForSafety",
    "RuleError",
    "ThrottledError",
    "TokenwardenError",
    "UpstreamError",
]


class TokenwardenError(Exception):
    """Base class. ``str()`` is a single line that names the problem and, if known, where."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        one_line = " ".join(self.message.split())
        return f"{self.location}: {one_line}" if self.location else one_line


class DataError(TokenwardenError):
    """Input data (an export, a JWKS file, a request body, a token) is malformed."""


class ConfigurationError(TokenwardenError):
    """A setting, option or policy file is missing or invalid."""


class RuleError(TokenwardenError):
    """A detection rule's files are inconsistent; the location names the file."""


class QueryError(TokenwardenError):
    """A query failed at the log source; the message names the rule."""

    def __init__(self, message: str, *, rule_id: str | None = None, location: str | None = None) -> None:
        super().__init__(message, location=location)
        self.rule_id = rule_id


class UpstreamError(TokenwardenError):
    """A remote service answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        location: str | None = None,
    ) -> None:
        super().__init__(message, location=location)
        self.status = status
        self.retry_after = retry_after


class ThrottledError(UpstreamError):
    """The remote service answered 429; ``retry_after`` holds its hint in seconds, if any."""


class RefusedForSafety(TokenwardenError):
    """A guardrail refused an action (protected principal, blast radius, mode)."""
