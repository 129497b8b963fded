"""Case-building throughput against Azurite: one recording pass over a scan's findings, beside a baseline that
records them one finding at a time (as a per-item loop would), in the same run on fresh tables."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

__all__ = ["print_cases", "run_cases_bench"]

PRINCIPALS = 200
FINDINGS_PER_PRINCIPAL = 3


def _findings() -> list[object]:
    from shared.detect.findings import Finding

    start = datetime(2026, 11, 20, tzinfo=UTC)
    rules = ("compromised-signing-key", "unpublished-signing-key", "token-without-sign-in")
    return [
        Finding(rule_id=rules[n], rule_title=rules[n], severity="High", first_seen=start + timedelta(minutes=p),
                last_seen=start + timedelta(minutes=p + 5), count=2, user_upn=f"user{p}@contoso.example",
                user_object_id=str(uuid.UUID(int=p + 1)), app_id="00000002-0000-0ff1-ce00-000000000000",
                ip_address="195.26.87.219", key_id="1LTMzakihiRla_8z2BEJVXeWMqo", token_id=f"uti-{p}-{n}",
                issuer=None, tenant_id=None, source_table="TokenValidation_CL", evidence={"n": n})
        for p in range(PRINCIPALS) for n in range(FINDINGS_PER_PRINCIPAL)
    ]


def run_cases_bench() -> dict[str, object]:
    from shared.core.settings import load_settings
    from shared.ledger.connection import LedgerTableNames, open_ledger
    from shared.ledger.recorder import record_findings
    from tools.azurite import Azurite

    findings = _findings()
    now = datetime(2026, 11, 20, 6, tzinfo=UTC)
    results: dict[str, object] = {"principals": PRINCIPALS, "findings": len(findings)}
    with Azurite() as endpoints:
        settings = load_settings({"AzureWebJobsStorage": endpoints.connection_string})
        for name in ("one pass", "one at a time"):
            suffix = uuid.uuid4().hex[:12]
            ledger = open_ledger(settings, names=LedgerTableNames(cases=f"Cases{suffix}", findings=f"Findings{suffix}",
                                                                  checkpoints=f"Checkpoints{suffix}",
                                                                  actions=f"Actions{suffix}"))
            try:
                started = time.perf_counter()
                if name == "one pass":
                    record_findings(ledger, findings, now=now)  # type: ignore[arg-type]
                else:
                    for finding in findings:
                        record_findings(ledger, [finding], now=now)  # type: ignore[list-item]
                elapsed = time.perf_counter() - started
            finally:
                ledger.close()
            results[name] = {"seconds": elapsed, "principals_per_second": PRINCIPALS / elapsed}
    return results


def print_cases(result: dict[str, object]) -> None:
    one, naive = result["one pass"], result["one at a time"]
    assert isinstance(one, dict) and isinstance(naive, dict)
    print(f"\n== case building: {result['findings']} findings for {result['principals']} principals, Azurite ==")
    print(f"{'strategy':<16}{'seconds':>9}{'principals/s':>14}")
    for name, item in (("one pass", one), ("one at a time", naive)):
        print(f"{name:<16}{item['seconds']:>9.2f}{item['principals_per_second']:>14.1f}")
    print(f"speed-up: {naive['seconds'] / one['seconds']:.1f}x")
