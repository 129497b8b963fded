"""Containing a 1,000-user incident (revoke sessions + confirm compromised) at Graph's limits, against the simulator.

Graph's limits are scaled by a known factor ``SCALE``: identity writes run at
20 x SCALE requests per second (3,000 per 150 s) and Identity Protection at
SCALE per second, each with one second of burst, in the simulator (its own
process) and in the engine's client-side buckets alike. The *throttle floor* is
the time the limits alone impose: the N revokes at the write rate, or the
⌈N / 60⌉ confirm calls at Identity Protection's rate, whichever is longer. The
engine's time is reported as a ratio to that floor (target ≤ 1.15), with the
429s it met after its first second (target 0).

Beside it, in the same run, a one-at-a-time baseline does what a Logic App
for-each does: for each user, revoke, then confirm that one user, through the
same SDK with its default retry handler, no ledger and no client-side pacing.
At one confirm call per user it needs N / SCALE seconds, so it runs on a sample
of ``BASELINE_USERS`` and its time for N is projected linearly (printed as such).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.ledger_trips import Machine, RoundTrips, process_cpu_seconds
from bench.simulator_process import BenchCredential, SimulatorProcess

__all__ = ["print_containment", "run_containment_bench"]

USERS = int(os.environ.get("BENCH_CONTAIN_USERS", "1000"))
SCALE = float(os.environ.get("BENCH_GRAPH_SCALE", "1"))
BASELINE_USERS = int(os.environ.get("BENCH_BASELINE_USERS", "60"))
WRITE_RATE = 3000 / 150
CONFIRM_BATCH = 60
POLICY = """
version: 1
playbooks:
  contain:
    description: revoke and confirm
    steps: [revoke_sessions, confirm_compromised]
triage:
  - name: everything
    when: {rule: compromised-signing-key}
    severity: High
    playbook: contain
default:
  severity: Low
  playbook: contain
"""


def _tenant(folder: Path, users: int) -> list[str]:
    """A tenant of *users* plain members, written where ``tokenwarden simulate --tenant`` reads it."""
    from shared.devkit.demo_data.generate import generate_demo_data

    generate_demo_data(folder, users=users, days=2)
    return [str(u["id"]) for u in json.loads((folder / "tenant.json").read_text())["users"]][:users]


def _simulator(tenant: Path) -> SimulatorProcess:
    simulator = SimulatorProcess(tenant)
    simulator.set_limit("identityWrite", capacity=WRITE_RATE * SCALE, per_seconds=1.0)
    simulator.set_limit("identityProtection", capacity=SCALE, per_seconds=1.0, retry_after=False)
    return simulator


def _seed_cases(ledger: object, user_ids: list[str], now: datetime) -> list[object]:
    from shared.detect.findings import Finding
    from shared.ledger.case_store import CaseStore
    from shared.ledger.recorder import record_findings

    findings = [
        Finding(rule_id="compromised-signing-key", rule_title="compromised key", severity="High",
                first_seen=now - timedelta(minutes=30), last_seen=now - timedelta(minutes=20), count=1,
                user_upn=None, user_object_id=user, app_id="00000002-0000-0ff1-ce00-000000000000",
                ip_address="195.26.87.219", key_id="1LTMzakihiRla_8z2BEJVXeWMqo", token_id=f"uti-{n}",
                issuer=None, tenant_id=None, source_table="TokenValidation_CL", evidence={})
        for n, user in enumerate(user_ids)
    ]
    record_findings(ledger, findings, now=now)  # type: ignore[arg-type]
    store = CaseStore(ledger.cases)  # type: ignore[attr-defined]
    cases = []
    for case in store.cases(open_only=True):
        enrichment = {"users": [{"key": case.principal.value, "status": "ok", "id": case.principal.value}]}
        cases.append(store.record_triage(case.case_id, enrichment=enrichment, severity="High",
                                         decision={"playbook": "contain", "rule": "everything"},
                                         reason="bench triage", at=now))
    return cases


async def _engine_run(graph_url: str, ledger: object, cases: list[object], now: datetime,
                      waits: dict[str, float], sends: dict[str, list[float]]) -> list[object]:
    from shared.cases.enrich.graph import build_graph_client
    from shared.cases.policy.loader import load_policy_text
    from shared.detect.ruleset import load_rules
    from shared.respond.engine import ResponseEngine
    from shared.respond.guardrails import BlastRadius, Guardrails
    from shared.respond.transport.graph_actions import GraphActions
    from shared.respond.transport.ratelimit import GRAPH_LIMITS, RateLimit, TokenBucket, limiters
    from shared.respond.transport.retry import RetryPolicy

    class TimedBucket(TokenBucket):
        """A bucket that adds up how long its callers waited for their send time (the Graph-bound share), and
        notes the first and last send instant per family (``time.perf_counter``) for the run's timeline."""

        family = ""

        async def acquire(self, cost: float = 1.0) -> float:
            waited = await super().acquire(cost)
            waits[self.family] = waits.get(self.family, 0.0) + waited
            at = time.perf_counter()
            sends.setdefault(self.family, [at, at])[1] = at
            return waited

    limits = {"identity_read": GRAPH_LIMITS["identity_read"],
              "identity_write": RateLimit(requests=WRITE_RATE * SCALE, per_seconds=1.0),
              "identity_protection": RateLimit(requests=SCALE, per_seconds=1.0)}
    client = build_graph_client(BenchCredential(), base_url=graph_url, sdk_retries=False)  # type: ignore[arg-type]
    buckets: dict[str, TokenBucket] = {}
    for family, bucket in limiters(limits=limits).items():
        timed = TimedBucket(bucket.limit, burst=bucket.burst)
        timed.family = family
        buckets[family] = timed
    graph = GraphActions(client, limiters=buckets, retry=RetryPolicy())
    rails = Guardrails(mode="auto", protected=frozenset(), per_run=len(cases) + 1, per_hour=len(cases) + 1)
    policy = load_policy_text(POLICY, source="bench", known_rules={r.id for r in load_rules()})
    engine = ResponseEngine(ledger=ledger, policy=policy, guardrails=rails, graph=graph,  # type: ignore[arg-type]
                            invocation_id="bench", blast=BlastRadius(rails, actioned_this_hour=set()))
    return await engine.respond_all(cases, now=now)  # type: ignore[arg-type]


async def _one_at_a_time(graph_url: str, user_ids: list[str]) -> None:
    from msgraph.generated.identity_protection.risky_users.confirm_compromised.confirm_compromised_post_request_body import (  # noqa: E501
        ConfirmCompromisedPostRequestBody,
    )

    from shared.cases.enrich.graph import build_graph_client

    client = build_graph_client(BenchCredential(), base_url=graph_url)  # type: ignore[arg-type]
    for user in user_ids:
        await client.users.by_user_id(user).revoke_sign_in_sessions.post()
        for attempt in range(8):  # Identity Protection's 429 has no Retry-After: back off as a Logic App would
            try:
                await client.identity_protection.risky_users.confirm_compromised.post(
                    ConfirmCompromisedPostRequestBody(user_ids=[user]))
                break
            except Exception:
                await asyncio.sleep(min(8.0, 0.5 * 2 ** attempt))


def run_containment_bench() -> dict[str, object]:
    from shared.core.settings import load_settings
    from shared.ledger.connection import LedgerTableNames, open_ledger
    from tools.azurite import Azurite

    now = datetime(2026, 11, 20, 6, tzinfo=UTC)
    floor = max(USERS / (WRITE_RATE * SCALE), math.ceil(USERS / CONFIRM_BATCH) / SCALE)
    result: dict[str, object] = {"users": USERS, "scale": SCALE, "floor_seconds": floor,
                                 "baseline_users": BASELINE_USERS}
    azurite, trips = Azurite(), RoundTrips()
    with tempfile.TemporaryDirectory(prefix="tokenwarden-contain-") as scratch, azurite as endpoints:
        tenant = Path(scratch)
        user_ids = _tenant(tenant, USERS)
        settings = load_settings({"AzureWebJobsStorage": endpoints.connection_string})
        suffix = uuid.uuid4().hex[:12]
        ledger = open_ledger(settings, names=LedgerTableNames(cases=f"Cases{suffix}", findings=f"Findings{suffix}",
                                                              checkpoints=f"Checkpoints{suffix}",
                                                              actions=f"Actions{suffix}"),
                             client_options=trips.client_options())
        try:
            cases = _seed_cases(ledger, user_ids, now)
            simulator = _simulator(tenant)
            trips.reset()
            waits: dict[str, float] = {}
            sends: dict[str, list[float]] = {}
            pids = {"bench": os.getpid(), "azurite": azurite.pid, "simulator": simulator.process.pid}
            try:
                cpu_before = {name: process_cpu_seconds(pid) for name, pid in pids.items()}
                with Machine() as machine:
                    started = time.perf_counter()
                    responses = asyncio.run(_engine_run(simulator.graph_url, ledger, cases,
                                                        now + timedelta(minutes=1), waits, sends))
                    ended = time.perf_counter()
                    elapsed = ended - started
                cpu = {name: (after - before) if (after := process_cpu_seconds(pids[name])) is not None
                       and before is not None else None for name, before in cpu_before.items()}
                stats = simulator.stats()
            finally:
                simulator.close()
        finally:
            ledger.close()
        contained = sum(1 for r in responses if getattr(r, "state", "") == "contained")
        late = [t for t in stats["throttledOffsets"] if t > 1.0]
        result["engine"] = {"seconds": elapsed, "contained": contained, "ratio": elapsed / floor,
                            "throttled": stats["throttled"], "late_429s": len(late), "requests": stats["requests"],
                            "first_late_429": late[0] if late else None, "load": machine.summary(),
                            "round_trips": trips.snapshot(), "cpu_seconds": cpu, "token_waits": waits,
                            "timeline": {family: {"first_send": instants[0] - started, "tail": ended - instants[-1]}
                                         for family, instants in sends.items()}}
        simulator = _simulator(tenant)
        try:
            sample = user_ids[:BASELINE_USERS]
            started = time.perf_counter()
            asyncio.run(_one_at_a_time(simulator.graph_url, sample))
            elapsed = time.perf_counter() - started
            stats = simulator.stats()
        finally:
            simulator.close()
        projected = elapsed * USERS / len(sample)
        result["baseline"] = {"seconds_sample": elapsed, "projected_seconds": projected, "ratio": projected / floor,
                              "throttled": stats["throttled"], "requests": stats["requests"]}
    return result


def print_containment(result: dict[str, object]) -> None:
    engine, baseline = result["engine"], result["baseline"]
    assert isinstance(engine, dict) and isinstance(baseline, dict)
    print(f"\n== containment of {result['users']} users (revoke + confirm compromised), Graph's limits "
          f"x{result['scale']} ==")
    print(f"throttle floor: {result['floor_seconds']:.1f} s")
    print(f"{'strategy':<30}{'seconds':>9}{'x floor':>9}{'requests':>10}{'429s':>6}")
    print(f"{'engine (batched, paced)':<30}{engine['seconds']:>9.1f}{engine['ratio']:>9.2f}"
          f"{engine['requests']:>10}{engine['throttled']:>6}   contained {engine['contained']}")
    label = f"one at a time (projected from {result['baseline_users']})"
    print(f"{label:<30}{baseline['projected_seconds']:>9.1f}{baseline['ratio']:>9.2f}"
          f"{baseline['requests']:>10}{baseline['throttled']:>6}   (sample took {baseline['seconds_sample']:.1f} s)")
    print(f"engine 429s after its first second: {engine['late_429s']}"
          + (f" (first at {engine['first_late_429']:.1f} s)" if engine["late_429s"] else " (target 0)"))
    print(f"speed-up: {baseline['projected_seconds'] / engine['seconds']:.1f}x")
    _print_where_time_went(engine, int(str(result["users"])))


def _print_where_time_went(engine: dict[str, object], users: int) -> None:
    """Round trips per case by kind, the ledger's latency, CPU by process, waits for Graph tokens, the load."""
    trips, cpu, waits, load = engine["round_trips"], engine["cpu_seconds"], engine["token_waits"], engine["load"]
    timeline = engine["timeline"]
    assert isinstance(trips, dict) and isinstance(cpu, dict) and isinstance(waits, dict) and isinstance(load, dict)
    assert isinstance(timeline, dict)
    total = sum(int(t["count"]) for t in trips.values())
    latency = sum(float(t["seconds"]) for t in trips.values())
    print(f"ledger round trips per case: {total / users:.1f} ({total} in all; a $batch counts once), "
          f"{latency / users:.2f} s of Table latency per case")
    for kind, t in trips.items():
        each = 1000 * t["seconds"] / max(t["count"], 1)
        print(f"  {kind:<28}{t['count'] / users:>6.2f} per case{each:>8.1f} ms each")
    print("CPU seconds during the run: " + ", ".join(
        f"{name} {value:.1f}" if value is not None else f"{name} ?" for name, value in cpu.items()))
    print("waits for Graph send times (summed over cases): " + ", ".join(
        f"{family} {value / users:.2f} s per case" for family, value in waits.items()))
    print("timeline: " + ", ".join(
        f"{family} first send {t['first_send']:.2f} s after the start, run ended {t['tail']:.2f} s after its last"
        for family, t in timeline.items()))
    print(f"load average (1 min) during the run: {load['min']:.1f}-{load['max']:.1f}, mean {load['mean']:.1f}")
