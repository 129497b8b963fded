"""Which fields each export file holds, found cheaply, so that no file is read twice to learn its types.

The loader types known columns from our schemas (``shared/schemas``), so what it
needs from a file before reading it is only the names of its fields. Every
record is looked at, because a data export omits empty fields and a column can
first appear on the millionth line:

``read_json_objects`` hands DuckDB's JSON parser each record as text and
``json_keys`` lists its top-level keys; one query covers every file of a kind at
once (DuckDB reads the files in parallel) and also counts each file's records.
(Parquet and CSV need no survey: their headers name their columns, and the
loader reads those directly.)

DuckDB's documentation: https://duckdb.org/docs/stable/data/json/loading_json (``read_json_objects``,
``format``, ``filename``, and ``read_json`` with ``columns``: "If we specify types for a subset of columns,
read_json excludes columns that we don't specify") and https://duckdb.org/docs/stable/data/json/json_functions
(``json_keys``).
A file DuckDB cannot survey (malformed JSON) is left out of the answer: the loader
then takes its careful path, which names the line at fault.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.detect.logsources.duckdb.exports import ExportFile, first_character
from shared.detect.logsources.duckdb.sql import string

if TYPE_CHECKING:
    from duckdb import DuckDBPyConnection

__all__ = ["FileFields", "json_format", "survey"]


@dataclass(frozen=True)
class FileFields:
    """A file's top-level field names (as spelled in the file) and its record count."""

    names: tuple[str, ...]
    records: int
    all_objects: bool = True
    """Every record is a JSON object with fields (a list, a number or ``{}`` is for the careful path to judge)."""


def json_format(export: ExportFile) -> str:
    """DuckDB's ``format`` for the file: ``newline_delimited``, or ``array`` / ``auto`` for one document."""
    if export.format == "jsonl":
        return "newline_delimited"
    return "array" if first_character(export.path, export.compressed) == "[" else "auto"


def survey(connection: DuckDBPyConnection, exports: Sequence[ExportFile]) -> dict[str, FileFields]:
    """Field names of each file (keyed by its path as text); files DuckDB cannot read are absent."""
    found: dict[str, FileFields] = {}
    by_format: dict[str, list[ExportFile]] = {}
    for export in exports:
        if export.format in ("json", "jsonl"):
            by_format.setdefault(json_format(export), []).append(export)
    for file_format, group in by_format.items():
        found.update(_json_fields(connection, group, file_format))
    return found


def _json_fields(connection: DuckDBPyConnection, group: Sequence[ExportFile], file_format: str
                 ) -> dict[str, FileFields]:
    paths = "[" + ", ".join(string(str(export.path)) for export in group) + "]"
    # Grouping by the key list (mostly a handful per file) is cheaper than unnesting every record's keys, and
    # grouping by the list as JSON text cheaper still: hashing and comparing a LIST(VARCHAR) per record was most
    # of the survey (CloudAppEvents at 1M rows: 3.2 s against 1.2 s for json_keys alone; as text 2.4 s). The text
    # is the list itself (to_json of a list of strings, read back with json.loads), so nothing is lost.
    sql = (
        "SELECT filename, keys, count(*) FROM ("  # noqa: S608 - quoted by sql.string
        "SELECT filename, CAST(to_json(json_keys(json)) AS VARCHAR) AS keys "
        f"FROM read_json_objects({paths}, format = {string(file_format)}, filename = true, "
        "hive_partitioning = false)) GROUP BY ALL"
    )
    try:
        rows = connection.execute(sql).fetchall()
    except Exception:
        if len(group) == 1:
            return {}
        found: dict[str, FileFields] = {}
        for export in group:  # one bad file must not cost the others their survey
            found.update(_json_fields(connection, [export], file_format))
        return found
    names: dict[str, set[str]] = {str(export.path): set() for export in group}
    records: dict[str, int] = dict.fromkeys(names, 0)
    objects: dict[str, bool] = dict.fromkeys(names, True)
    for filename, text, count in rows:
        path = str(filename)
        keys = json.loads(text) if text is not None else None
        names.setdefault(path, set()).update(str(key) for key in keys or ())
        records[path] = records.get(path, 0) + int(count)
        if not keys:  # a list, a scalar or an empty object: only the careful path says which, and where
            objects[path] = False
    return {path: FileFields(names=tuple(sorted(names[path])), records=records[path], all_objects=objects[path])
            for path in names}
