"""Building findings by hand, for tests that need exact control over who, what and when."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.detect.findings import Finding
from shared.detect.ruleset import Severity

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_finding(
    *,
    rule_id: str = "compromised-signing-key",
    severity: Severity = "High",
    first: datetime = T0,
    last: datetime | None = None,
    count: int = 1,
    oid: str | None = None,
    upn: str | None = None,
    app_id: str | None = "00000002-0000-0ff1-ce00-000000000000",
    ip: str | None = "195.26.87.219",
    token: str | None = None,
    evidence: Mapping[str, Any] | None = None,
    source_table: str = "TokenValidation_CL",
) -> Finding:
    return Finding(
        rule_id=rule_id, rule_title=rule_id.replace("-", " "), severity=severity, first_seen=first,
        last_seen=last or first, count=count, user_upn=upn, user_object_id=oid, app_id=app_id, ip_address=ip,
        key_id="1LTMzakihiRla_8z2BEJVXeWMqo", token_id=token, issuer="https://sts.windows.net/x/",
        tenant_id="9188040d-6c67-4c5b-b112-36a304b66dad", source_table=source_table,
        evidence=dict(evidence or {"audiences": ["https://outlook.office365.com"]}),
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)
