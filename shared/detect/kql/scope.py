"""Recognise queries that reach outside the workspace they are sent to.

The local workspace applies a query's timespan by shadowing each table with a
filtered view. A reference that names a database or cluster explicitly would
read the unfiltered table behind the view, and a control command (``.show``,
``.set``) is not part of the Log Analytics query API at all, so both are
refused before a query runs. Detection is token-based, so the words inside a
string literal or a comment never trigger it.
"""

from __future__ import annotations

from itertools import pairwise

from shared.detect.kql.lexer import tokenize

__all__ = ["out_of_scope_reason"]

_SCOPE_FUNCTIONS = {
    "app": "cross-resource app() references",
    "cluster": "cluster() references",
    "database": "database() references",
    "resource": "cross-resource resource() references",
    "workspace": "cross-workspace workspace() references",
}


def out_of_scope_reason(text: str) -> str | None:
    """Why ``text`` cannot run against a single local workspace, or None if it can.

    Raises :class:`shared.detect.kql.lexer.KqlLexError` if the text cannot be tokenised.
    """
    tokens = [token for token in tokenize(text) if token.kind not in ("space", "comment")]
    if tokens and tokens[0].text == ".":
        return "control commands are not part of the Log Analytics query API"
    for current, following in pairwise(tokens):
        if current.kind == "ident" and current.text in _SCOPE_FUNCTIONS and following.text == "(":
            return f"{_SCOPE_FUNCTIONS[current.text]} are not supported by the local workspace"
    return None
