"""Find every file under a folder, and decide for each one what it is: which table, in which layout, or why not.

Users hold logs in many shapes (see docs/formats.md); each file is recognised
by where it sits and what it is called first, and by its first record only when
its name says nothing:

- ``SigninLogs.jsonl``, ``SigninLogs.0001.csv.gz``, ``SigninLogs (1).csv``: a
  Log Analytics query or portal export, named after its table (a browser's
  ``(1)`` suffix for a second download is ignored);
- ``am-<table>/WorkspaceResourceId=…/y=…/PT05M.json`` (also ``PT05M_1.json``
  for a split blob, the older hourly ``PT1H.json``, and gzip): a Log Analytics
  data export to storage;
- ``insights-logs-<category>/resourceId=…/PT1H.json``: diagnostic settings to
  storage (or Event Hub capture), records of ``{time, category, properties}``;
- ``InteractiveSignIns_<from>_<to>.csv`` and its siblings: the Entra portal's
  sign-in log download;
- a Microsoft Graph ``auditLogs/signIns`` response, a Purview audit search CSV
  or ``Search-UnifiedAuditLog`` output, recognised by their first record.

Every file ends up in exactly one of two lists: the files to load, or the files
skipped with a one-line reason a user can act on. Nothing is dropped in silence,
and nothing that is not a log (an app catalogue, a key set, a note) is loaded as
a table.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from shared.core.errors import DataError

__all__ = [
    "DIAGNOSTIC_CATEGORIES",
    "PORTAL_DOWNLOADS",
    "ExportFile",
    "ExportFormat",
    "Layout",
    "SkippedFile",
    "csv_column",
    "discover",
    "first_character",
]

ExportFormat = Literal["jsonl", "json", "csv", "parquet"]
"""How the file is written: JSON lines, one JSON document (an array or an object), CSV, Parquet."""

Layout = Literal[
    "log-analytics", "data-export", "diagnostic-settings", "graph-api", "entra-portal", "unified-audit-log"
]
"""What wrote the file, which decides how its fields map onto the table's columns (docs/formats.md)."""

_FORMATS: dict[str, ExportFormat] = {
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "json": "json",
    "csv": "csv",
    "parquet": "parquet",
}
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_BROWSER_COPY = re.compile(r"\s*\(\d+\)$")  # "SigninLogs (1)": a browser's second download of the same name
_CHUNK = re.compile(r"\.\d+$")  # "SigninLogs.0001"
_DATA_EXPORT_BLOB = re.compile(r"^PT(0?5M|1H)(_\d+)?$", re.IGNORECASE)

DIAGNOSTIC_CATEGORIES: Mapping[str, str] = {
    "signinlogs": "SigninLogs",
    "noninteractiveusersigninlogs": "AADNonInteractiveUserSignInLogs",
    "serviceprincipalsigninlogs": "AADServicePrincipalSignInLogs",
    "managedidentitysigninlogs": "AADManagedIdentitySignInLogs",
    "microsoftgraphactivitylogs": "MicrosoftGraphActivityLogs",
    "auditlogs": "AuditLogs",
}
"""Entra diagnostic-setting category (lower case, as in ``insights-logs-<category>``) -> Log Analytics table.

Source: Microsoft Entra docs, "Microsoft Entra activity log schemas" / "Stream logs to storage" and
Azure Monitor's "Resource logs" storage layout (MicrosoftDocs/azure-monitor-docs,
articles/azure-monitor/platform/resource-logs.md, section "Send to Azure Storage")."""

PORTAL_DOWNLOADS: Mapping[str, str] = {
    "interactivesignins": "SigninLogs",
    "noninteractivesignins": "AADNonInteractiveUserSignInLogs",
    "applicationsignins": "AADServicePrincipalSignInLogs",
    "msisignins": "AADManagedIdentitySignInLogs",
}
"""The Entra portal's download file name prefix (``InteractiveSignIns_<from>_<to>.csv``) -> table.

Source: Microsoft Entra docs, "How to download logs in Microsoft Entra ID"
(MicrosoftDocs/entra-docs, docs/identity/monitoring-health/howto-download-logs.md)."""

_PORTAL_NAME = re.compile(r"^(?P<kind>[A-Za-z]+SignIns)_.*$", re.IGNORECASE)
_PEEK_BYTES = 64 * 1024


@dataclass(frozen=True)
class ExportFile:
    """One file to load: where it is, which table it fills, how it is written and what wrote it.

    For Graph sign-ins ``table`` is where records go unless their own
    ``signInEventTypes`` name another sign-in table (see the loader's routing).
    """

    path: Path
    relative: str
    table: str
    format: ExportFormat
    compressed: bool
    layout: Layout = "log-analytics"


@dataclass(frozen=True)
class SkippedFile:
    """A file under the folder that is not loaded, and why, in words a user can act on."""

    path: Path
    relative: str
    reason: str


def discover(folder: Path, known_tables: Mapping[str, object]) -> tuple[list[ExportFile], list[SkippedFile]]:
    """Every file under ``folder`` (recursively, sorted by relative path): to load, or skipped with a reason.

    A table name matching a known table case-insensitively takes the known
    spelling, so ``signinlogs.csv`` fills ``SigninLogs``. The tree is walked,
    not listed at once, so a data export of many thousands of blobs streams.
    """
    if not folder.is_dir():
        raise DataError("export folder does not exist or is not a directory", location=str(folder))
    canonical = {name.lower(): name for name in known_tables}
    files: list[ExportFile] = []
    skipped: list[SkippedFile] = []
    for path in _walk(folder):
        relative = path.relative_to(folder).as_posix()
        outcome = _classify(path, relative, canonical)
        (files if isinstance(outcome, ExportFile) else skipped).append(outcome)  # type: ignore[arg-type]
    return files, skipped


def _walk(folder: Path) -> Iterator[Path]:
    """Files under ``folder`` in a stable order: sorted names, depth first."""
    entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(path)
        elif entry.is_file():
            yield path


def _classify(path: Path, relative: str, canonical: Mapping[str, str]) -> ExportFile | SkippedFile:
    def skip(reason: str) -> SkippedFile:
        return SkippedFile(path=path, relative=relative, reason=reason)

    parts_in_tree = relative.split("/")
    if any(part.startswith(".") for part in parts_in_tree):
        return skip("hidden file")
    parts = path.name.split(".")
    compressed = len(parts) > 2 and parts[-1].lower() == "gz"
    if compressed:
        parts = parts[:-1]
    export_format = _FORMATS.get(parts[-1].lower()) if len(parts) >= 2 else None
    if export_format is None or (compressed and export_format == "parquet"):
        return skip("not a log export: only .json, .jsonl, .ndjson, .csv (these optionally .gz) and .parquet are read")
    stem = _CHUNK.sub("", _BROWSER_COPY.sub("", ".".join(parts[:-1])))

    def export(table: str, layout: Layout, file_format: ExportFormat = export_format) -> ExportFile:
        return ExportFile(path=path, relative=relative, table=canonical.get(table.lower(), table),
                          format=file_format, compressed=compressed, layout=layout)

    folders = [part.lower() for part in parts_in_tree[:-1]]
    container = next((part for part in folders if part.startswith(("am-", "insights-logs-"))), None)
    if _DATA_EXPORT_BLOB.match(stem) or container is not None:
        return _classify_blob(path, stem, container, export_format, export, skip)

    portal = _PORTAL_NAME.match(stem)
    if portal is not None and portal.group("kind").lower() in PORTAL_DOWNLOADS:
        return export(PORTAL_DOWNLOADS[portal.group("kind").lower()], "entra-portal")

    if _TABLE.match(stem) and (stem.lower() in canonical or stem.lower().endswith("_cl")):
        return export(stem, "log-analytics")
    return _classify_by_content(path, compressed, export_format, export, skip)


def _classify_blob(path: Path, stem: str, container: str | None, export_format: ExportFormat,
                   export: _Export, skip: _Skip) -> ExportFile | SkippedFile:
    """A blob from a storage container: a data export (``am-<table>``) or diagnostic settings."""
    if container is not None and container.startswith("am-"):
        # Container names are lower case; a custom table's own spelling is in its records' Type.
        first = _first_record(path, export_format) if container.endswith("_cl") else None
        named = first.get("Type") if isinstance(first, dict) else None
        spelled = named if isinstance(named, str) and _TABLE.match(named) else container.removeprefix("am-")
        return export(spelled, "data-export", "jsonl")
    if container is not None:
        category = container.removeprefix("insights-logs-")
        mapped = DIAGNOSTIC_CATEGORIES.get(category)
        if mapped is None:
            return skip(f"diagnostic-settings category {category!r} is not a table Tokenwarden reads")
        return export(mapped, "diagnostic-settings", "jsonl")
    first = _first_record(path, export_format)
    if isinstance(first, dict) and isinstance(first.get("Type"), str):
        return export(first["Type"], "data-export", "jsonl")
    if isinstance(first, dict) and isinstance(first.get("category"), str):
        table = DIAGNOSTIC_CATEGORIES.get(first["category"].lower())
        if table is not None:
            return export(table, "diagnostic-settings", "jsonl")
    return skip(f"a storage blob ({stem}) outside an am-<table> or insights-logs-<category> folder, and its "
                "records name no table; download the whole container folder")


def _classify_by_content(path: Path, compressed: bool, export_format: ExportFormat,
                         export: _Export, skip: _Skip) -> ExportFile | SkippedFile:
    """A file whose name says nothing: recognised by its first record, or skipped saying how to name it."""
    unnamed = ("not a recognised log export: name it after its Log Analytics table (SigninLogs.json), "
               "or keep the Entra portal's or the storage container's own names")
    if export_format == "parquet":
        return skip(unnamed)
    if export_format == "csv":
        header = _csv_header(path, compressed)
        if header is not None and "auditdata" in {name.strip().lower() for name in header}:
            return export("OfficeActivity", "unified-audit-log")
        return skip(unnamed)
    first = _first_record(path, export_format)
    if isinstance(first, dict):
        keys = {key.lower() for key in first}
        if "keys" in keys and isinstance(first.get("keys"), list):
            return skip("a JWKS key set, not a log: pass it to hunt with --jwks")
        if isinstance(first.get("tables"), list):
            return skip("a Log Analytics query API response; export the rows as JSON lines or an array")
        if "value" in keys or "@odata.context" in keys:
            context = str(first.get("@odata.context", "")).lower()
            values = first.get("value")
            sample = values[0] if isinstance(values, list) and values else None
            if "signins" in context or _is_graph_sign_in(sample):
                return export("SigninLogs", "graph-api")
            if "serviceprincipals" in context or _is_app(sample):
                return skip("an app catalogue (servicePrincipal objects), not a log: pass it to hunt with --apps")
            return skip("a Microsoft Graph response that is not auditLogs/signIns")
        if _is_app(first):
            return skip("an app catalogue (servicePrincipal objects), not a log: pass it to hunt with --apps")
        if "auditdata" in keys:
            return export("OfficeActivity", "unified-audit-log")
        if {"creationtime", "operation", "recordtype"} <= keys:
            return export("OfficeActivity", "unified-audit-log")
        if {"time", "category", "properties"} <= keys:
            table = DIAGNOSTIC_CATEGORIES.get(str(first.get("category", "")).lower())
            if table is not None:
                return export(table, "diagnostic-settings")
            return skip(f"diagnostic-settings category {first.get('category')!r} is not a table Tokenwarden reads")
        if _is_graph_sign_in(first):
            return export("SigninLogs", "graph-api")
        if "timegenerated" in keys and isinstance(first.get("Type"), str) and _TABLE.match(first["Type"]):
            return export(first["Type"], "log-analytics")
    return skip(unnamed)


def _is_graph_sign_in(record: object) -> bool:
    return isinstance(record, dict) and "createdDateTime" in record and (
        "userPrincipalName" in record or "appId" in record or "uniqueTokenIdentifier" in record)


def _is_app(record: object) -> bool:
    return isinstance(record, dict) and "appId" in record and "signInAudience" in record


def _open_binary(path: Path, compressed: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _peek_text(path: Path, compressed: bool) -> str:
    try:
        with _open_binary(path, compressed) as handle:
            head = handle.read(_PEEK_BYTES)
    except (OSError, EOFError):
        return ""
    return head.decode("utf-8-sig", errors="replace")


def first_character(path: Path, compressed: bool) -> str:
    """The first character of the file after any byte-order mark and white space ('' when none)."""
    text = _peek_text(path, compressed).lstrip()
    return text[:1]


def csv_column(path: Path, compressed: bool, wanted: str) -> str | None:
    """The CSV header's own spelling of column ``wanted`` (compared case-insensitively), or None."""
    for name in _csv_header(path, compressed) or []:
        if name.strip().lower() == wanted.lower():
            return name
    return None


def _csv_header(path: Path, compressed: bool) -> list[str] | None:
    text = _peek_text(path, compressed)
    try:
        return next(csv.reader(io.StringIO(text)), None)
    except csv.Error:
        return None


def _first_record(path: Path, export_format: ExportFormat) -> object:
    """The file's first JSON record (an array's first element), read from its first 64 KiB.

    A Graph page longer than that is recognised by its ``@odata.context`` and
    the first element of its ``value`` array. None when nothing decodes.
    """
    text = _peek_text(path, path.name.lower().endswith(".gz")).lstrip()
    decoder = json.JSONDecoder()
    body = text[1:].lstrip() if text.startswith("[") else text
    try:
        value, _ = decoder.raw_decode(body)
    except ValueError:
        pass
    else:
        return value
    if export_format == "parquet" or not text.startswith("{"):
        return None
    found: dict[str, object] = {}
    context = re.search(r'"@odata\.context"\s*:\s*"([^"]*)"', text)
    if context:
        found["@odata.context"] = context.group(1)
    values = re.search(r'"value"\s*:\s*\[\s*', text)
    if values:
        try:
            sample, _ = decoder.raw_decode(text, values.end())
        except ValueError:
            sample = None
        found["value"] = [sample] if sample is not None else []
    return found or None


class _Export(Protocol):
    def __call__(self, table: str, layout: Layout, file_format: ExportFormat = ...) -> ExportFile: ...


class _Skip(Protocol):
    def __call__(self, reason: str) -> SkippedFile: ...
