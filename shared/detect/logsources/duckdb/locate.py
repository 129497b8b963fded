"""Find the line a malformed export goes wrong on, after DuckDB has refused it.

DuckDB reads the files; these scans run only when it fails, because its
messages name a byte offset or a line that is not always where the mistake is
(an unclosed object on line 3 is reported on line 4). The scans read line by
line, never the whole file, except a ``.json`` array whose syntax error can
only be found by parsing it.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from typing import IO

from shared.core.errors import DataError
from shared.detect.logsources.duckdb.exports import ExportFile

__all__ = ["find_malformed", "record_location"]


def find_malformed(export: ExportFile) -> DataError | None:
    """A DataError naming the first syntactically bad line of ``export``, or None if none is found."""
    try:
        if export.format == "jsonl":
            return _scan_json_lines(export)
        if export.format == "json":
            return _scan_json_document(export)
        if export.format == "csv":
            return _scan_csv(export)
    except UnicodeDecodeError as exc:
        return DataError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", location=str(export.path))
    return None


def record_location(export: ExportFile, record_index: int) -> str:
    """Where the ``record_index``-th (0-based) data record of ``export`` starts: ``path:line``."""
    if export.format == "jsonl":
        for number, (line_number, _) in enumerate(_json_lines(export)):
            if number == record_index:
                return f"{export.path}:{line_number}"
    elif export.format == "csv":
        for number, (line_number, _) in enumerate(_csv_records(export)):
            if number == record_index:
                return f"{export.path}:{line_number}"
    return f"{export.path} (record {record_index + 1})"


def _open_text(export: ExportFile) -> IO[str]:
    if export.compressed:
        return io.TextIOWrapper(gzip.open(export.path, "rb"), encoding="utf-8-sig", newline="")
    return open(export.path, encoding="utf-8-sig", newline="")


def _json_lines(export: ExportFile) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line."""
    with _open_text(export) as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                yield line_number, line


def _scan_json_lines(export: ExportFile) -> DataError | None:
    for line_number, line in _json_lines(export):
        error = _check_record(line, f"{export.path}:{line_number}")
        if error is not None:
            return error
    return None


def _check_record(text: str, location: str) -> DataError | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return DataError(f"malformed JSON: {exc.msg} at column {exc.colno}", location=location)
    if not isinstance(value, dict):
        return DataError(f"expected a JSON object, found {type(value).__name__}", location=location)
    return None


def _scan_json_document(export: ExportFile) -> DataError | None:
    with _open_text(export) as handle:
        text = handle.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # several documents: JSON lines in a .json file
            return _scan_json_lines(export)
        return DataError(f"malformed JSON: {exc.msg} at column {exc.colno}", location=f"{export.path}:{exc.lineno}")
    records = document if isinstance(document, list) else [document]
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            return DataError(
                f"expected an array of JSON objects; element {index + 1} is {type(record).__name__}",
                location=str(export.path),
            )
    return None


def _csv_records(export: ExportFile) -> Iterator[tuple[int, list[str]]]:
    """(starting line number, fields) of each data record after the header; raises csv.Error."""
    with _open_text(export) as handle:
        reader = csv.reader(handle, strict=True)
        next(reader, None)
        previous_end = reader.line_num
        for record in reader:
            start = previous_end + 1
            previous_end = reader.line_num
            if record:
                yield start, record


def _scan_csv(export: ExportFile) -> DataError | None:
    with _open_text(export) as handle:
        reader = csv.reader(handle, strict=True)
        previous_end = 0
        try:
            header = next(reader, None)
            if header is None:
                return None
            previous_end = reader.line_num
            for record in reader:
                start = previous_end + 1
                previous_end = reader.line_num
                if record and len(record) != len(header):
                    return DataError(
                        f"expected {len(header)} fields as in the header, found {len(record)}",
                        location=f"{export.path}:{start}",
                    )
        except csv.Error as exc:
            # Reported where the record it was reading starts: an unclosed quote runs to the end of the file.
            return DataError(f"malformed CSV: {exc}", location=f"{export.path}:{previous_end + 1}")
    return None
