"""``ingestion_time()`` in the embedded workspace: when each row reached Log Analytics, from a hidden column.

Tokenwarden's rules select rows by arrival (see :mod:`shared.detect.ingestion_delay`), through Kusto's
``ingestion_time()``. duckdb-kql has no mapping for that function, and a DuckDB table has no hidden
ingestion clock, so the local workspace gives every table a column :data:`INGESTION_TIME_COLUMN` and
rewrites each ``ingestion_time()`` call in the query text to read it. The rewrite works on the
tokenizer's tokens (:mod:`shared.detect.kql.lexer`), so a string or comment that happens to contain the words is
never touched.

Where a row's arrival comes from: the loader's own column when it sets one; else the row's
``_TimeReceived`` (the standard Log Analytics column for when the record reached the ingestion point,
https://learn.microsoft.com/azure/azure-monitor/logs/log-standard-columns, which query exports carry when
asked); else its ``TimeGenerated``, for exports that carry no arrival time at all.
"""

from __future__ import annotations

from shared.detect.kql.lexer import tokenize

__all__ = ["INGESTION_TIME_COLUMN", "TIME_RECEIVED_COLUMN", "rewrite_ingestion_time"]

INGESTION_TIME_COLUMN = "_TW_IngestionTime"
TIME_RECEIVED_COLUMN = "_TimeReceived"
_FUNCTION = "ingestion_time"


def rewrite_ingestion_time(text: str) -> str:
    """``text`` with every ``ingestion_time()`` call replaced by the hidden arrival column."""
    tokens = tokenize(text)
    significant = [index for index, token in enumerate(tokens) if token.kind not in ("space", "comment")]
    pieces: list[str] = []
    position = 0
    for at, index in enumerate(significant):
        token = tokens[index]
        if token.kind != "ident" or token.text != _FUNCTION:
            continue
        following = [tokens[i] for i in significant[at + 1 : at + 3]]
        if len(following) < 2 or following[0].text != "(" or following[1].text != ")":
            continue
        previous = tokens[significant[at - 1]] if at > 0 else None
        if previous is not None and previous.text == ".":
            continue  # a member access (x.ingestion_time()), not the function
        pieces.append(text[position : token.start])
        pieces.append(INGESTION_TIME_COLUMN)
        position = following[1].end
    pieces.append(text[position:])
    return "".join(pieces)
