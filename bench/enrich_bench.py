"""Enrichment throughput against the Graph simulator, beside a one-call-at-a-time baseline in the same run.

The simulator runs in its own process (``tokenwarden simulate``) with Graph's
documented limits, Identity Protection's 1 request/s scaled by ``RISK_SCALE`` so
the baseline finishes in reasonable time; the scale is printed with the result.
The baseline does what a Logic App for-each does: for each user, get the user,
its memberships and its risk, one request after another, through the same SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path

from bench.simulator_process import BenchCredential, SimulatorProcess

__all__ = ["run_enrichment_bench"]

USERS = 200
RISK_SCALE = 10


async def _naive(graph_url: str, user_ids: list[str]) -> int:
    from shared.cases.enrich.graph import build_graph_client

    client = build_graph_client(BenchCredential(), base_url=graph_url)  # type: ignore[arg-type]
    requests = 0
    for user_id in user_ids:
        await client.users.by_user_id(user_id).get()
        await client.users.by_user_id(user_id).transitive_member_of.get()
        with contextlib.suppress(Exception):  # a 404 means no risk; the baseline only counts the call
            await client.identity_protection.risky_users.by_risky_user_id(user_id).get()
        requests += 3
    return requests


async def _batched(graph_url: str, user_ids: list[str]) -> int:
    from shared.cases.enrich.graph import GraphDirectory, build_graph_client

    directory = GraphDirectory(build_graph_client(BenchCredential(), base_url=graph_url))  # type: ignore[arg-type]
    facts = await directory.users(user_ids)
    failed = [f for f in facts.values() if f.status != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} lookups failed: {failed[0].error}")
    return directory.requests_sent


def run_enrichment_bench() -> dict[str, object]:
    from shared.devkit.demo_data.generate import generate_demo_data

    with tempfile.TemporaryDirectory(prefix="tokenwarden-enrich-") as scratch:
        tenant = Path(scratch)
        generate_demo_data(tenant, users=USERS, days=2)
        user_ids = [str(u["id"]) for u in json.loads((tenant / "tenant.json").read_text())["users"]]
        results: dict[str, object] = {"users": len(user_ids), "risk_scale": RISK_SCALE}
        for name, runner in (("batched", _batched), ("one-at-a-time", _naive)):
            simulator = SimulatorProcess(tenant, "--limit-scale", "1")
            try:
                # Identity Protection's 1 request/s, scaled, for both runs alike.
                simulator.set_limit("identityProtection", capacity=RISK_SCALE, per_seconds=1.0, retry_after=False)
                started = time.perf_counter()
                sent = asyncio.run(runner(simulator.graph_url, user_ids))
                elapsed = time.perf_counter() - started
                throttled = simulator.stats()["throttled"]
            finally:
                simulator.close()
            results[name] = {"seconds": elapsed, "http_requests": sent, "throttled": throttled,
                             "principals_per_second": len(user_ids) / elapsed}
    return results


def print_enrichment(result: dict[str, object]) -> None:
    batched, naive = result["batched"], result["one-at-a-time"]
    assert isinstance(batched, dict) and isinstance(naive, dict)
    print(f"\n== enrichment of {result['users']} users against the Graph simulator "
          f"(Graph's limits; Identity Protection x{result['risk_scale']}) ==")
    print(f"{'strategy':<16}{'seconds':>9}{'requests':>10}{'429s':>6}{'principals/s':>14}")
    for name, item in (("batched", batched), ("one-at-a-time", naive)):
        print(f"{name:<16}{item['seconds']:>9.2f}{item['http_requests']:>10}{item['throttled']:>6}"
              f"{item['principals_per_second']:>14.1f}")
    print(f"speed-up: {naive['seconds'] / batched['seconds']:.1f}x "
          f"({naive['http_requests']} → {batched['http_requests']} HTTP requests)")
