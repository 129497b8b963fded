"""Findings: one row of a rule's result, in the shape analysts, the ledger and Sentinel share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from shared.detect.ruleset import FINDING_COLUMNS, Rule, Severity

__all__ = ["Finding", "finding_from_row"]


@dataclass(frozen=True, kw_only=True)
class Finding:
    rule_id: str
    rule_title: str
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    count: int
    user_upn: str | None
    user_object_id: str | None
    app_id: str | None
    ip_address: str | None
    key_id: str | None
    token_id: str | None
    issuer: str | None
    tenant_id: str | None
    source_table: str
    evidence: Mapping[str, Any]
    first_arrived: datetime | None = None
    """When the earliest row behind the finding reached the workspace (``ingestion_time()``); None for findings
    that do not come from a rule's rows. ``first_arrived - first_seen`` is the ingestion delay."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with ISO 8601 UTC times, in the field order of the contract."""
        data = asdict(self)
        for key in ("first_seen", "last_seen", "first_arrived"):
            if data[key] is not None:
                data[key] = _iso(data[key])
        data["evidence"] = _jsonable(data["evidence"])
        return data


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _jsonable(value: object) -> Any:
    if isinstance(value, datetime):
        return _iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _time(value: object, column: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    raise ValueError(f"{column} is not a datetime: {value!r}")


def finding_from_row(rule: Rule, row: Mapping[str, object]) -> Finding:
    """Map one result row (the finding contract's columns) to a Finding; empty strings become None."""
    missing = [name for name, _ in FINDING_COLUMNS if name not in row]
    if missing:
        raise ValueError(f"rule {rule.id} returned no {', '.join(missing)} column")
    evidence = row["Evidence"]
    if isinstance(evidence, str):
        evidence = json.loads(evidence) if evidence.strip() else {}
    if not isinstance(evidence, Mapping):
        evidence = {"value": evidence}
    count = row["Count"]
    return Finding(
        rule_id=rule.id,
        rule_title=rule.meta.title,
        severity=rule.meta.severity,
        first_seen=_time(row["FirstSeen"], "FirstSeen"),
        last_seen=_time(row["LastSeen"], "LastSeen"),
        count=int(count) if isinstance(count, int | float | str) else 0,
        user_upn=_text(row["UserUpn"]),
        user_object_id=_text(row["UserObjectId"]),
        app_id=_text(row["AppId"]),
        ip_address=_text(row["IpAddress"]),
        key_id=_text(row["KeyId"]),
        token_id=_text(row["TokenId"]),
        issuer=_text(row["Issuer"]),
        tenant_id=_text(row["TokenTenantId"]),
        source_table=_text(row["SourceTable"]) or rule.meta.tables[0],
        evidence=dict(evidence),
        first_arrived=_time(row["FirstArrived"], "FirstArrived") if row["FirstArrived"] is not None else None,
    )
