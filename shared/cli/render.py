"""Rendering hunt reports for people (a table) and for machines (JSON, JSON lines)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TextIO

from shared.detect.findings import Finding
from shared.detect.hunt import HuntReport

__all__ = ["FORMATS", "render_report"]

FORMATS = ("table", "json", "jsonl")


def _short(value: str | None, width: int) -> str:
    if not value:
        return "-"
    return value if len(value) <= width else value[: width - 1] + "…"


def _table(findings: Sequence[Finding]) -> list[str]:
    headers = ("SEVERITY", "RULE", "FIRST SEEN (UTC)", "COUNT", "PRINCIPAL", "APP", "IP", "KEY / TOKEN")
    rows = [
        (
            f.severity,
            f.rule_id,
            f.first_seen.strftime("%Y-%m-%d %H:%M:%S"),
            str(f.count),
            _short(f.user_upn or f.user_object_id, 34),
            _short(f.app_id, 36),
            _short(f.ip_address, 15),
            _short(f.key_id or f.token_id, 28),
        )
        for f in findings
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    return [line.format(*headers), *(line.format(*row) for row in rows)]


def render_report(report: HuntReport, output_format: str, stream: TextIO) -> None:
    if output_format == "json":
        json.dump([f.to_json() for f in report.findings], stream, indent=2)
        stream.write("\n")
        return
    if output_format == "jsonl":
        for finding in report.findings:
            stream.write(json.dumps(finding.to_json(), separators=(",", ":")))
            stream.write("\n")
        return
    window = f"{report.window.start:%Y-%m-%d %H:%M} .. {report.window.end:%Y-%m-%d %H:%M} UTC"
    stream.write(f"Hunt over {report.source}, window {window}\n\n")
    if report.findings:
        stream.write("\n".join(_table(report.findings)) + "\n\n")
    by_rule = ", ".join(f"{run.rule_id}={'no input' if run.status == 'no_input' else run.findings}"
                        for run in report.runs)
    stream.write(f"{len(report.findings)} findings from {len(report.runs)} rules ({by_rule})\n")
    for run in report.runs:
        if run.status != "complete":
            stream.write(f"  {run.status.replace('_', ' ').upper()}: {run.rule_id}: {run.message}\n")
    for warning in report.warnings:
        stream.write(f"  note: {warning}\n")
