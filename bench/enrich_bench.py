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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["run_enrichment_bench"]

USERS = 200
RISK_SCALE = 10


class _Credential:
    def get_token(self, *scopes: str, **kwargs: object) -> object:
        from azure.core.credentials import AccessToken

        return AccessToken("bench", int(time.time()) + 3600)


def _control(origin: str, method: str, path: str, body: dict[str, object] | None) -> dict[str, object]:
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(origin + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text else {}


def _start_simulator(tenant: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "shared.cli", "simulate", "--tenant", str(tenant), "--limit-scale", "1"],
        stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if "Graph simulator at " not in line:
        process.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return process, line.split("Graph simulator at ", 1)[1].split()[0]


async def _naive(graph_url: str, user_ids: list[str]) -> int:
    from shared.enrich.graph import build_graph_client

    client = build_graph_client(_Credential(), base_url=graph_url)  # type: ignore[arg-type]
    requests = 0
    for user_id in user_ids:
        await client.users.by_user_id(user_id).get()
        await client.users.by_user_id(user_id).transitive_member_of.get()
        with contextlib.suppress(Exception):  # a 404 means no risk; the baseline only counts the call
            await client.identity_protection.risky_users.by_risky_user_id(user_id).get()
        requests += 3
    return requests


async def _batched(graph_url: str, user_ids: list[str]) -> int:
    from shared.enrich.graph import GraphDirectory, build_graph_client

    directory = GraphDirectory(build_graph_client(_Credential(), base_url=graph_url))  # type: ignore[arg-type]
    facts = await directory.users(user_ids)
    failed = [f for f in facts.values() if f.status != "ok"]
    if failed:
        raise RuntimeError(f"{len(failed)} lookups failed: {failed[0].error}")
    return directory.requests_sent


def run_enrichment_bench() -> dict[str, object]:
    from shared.demo_data.generate import generate_demo_data

    with tempfile.TemporaryDirectory(prefix="tokenwarden-enrich-") as scratch:
        tenant = Path(scratch)
        generate_demo_data(tenant, users=USERS, days=2)
        user_ids = [str(u["id"]) for u in json.loads((tenant / "tenant.json").read_text())["users"]]
        results: dict[str, object] = {"users": len(user_ids), "risk_scale": RISK_SCALE}
        for name, runner in (("batched", _batched), ("one-at-a-time", _naive)):
            process, url = _start_simulator(tenant)
            try:
                # Identity Protection's 1 request/s, scaled, for both runs alike.
                origin = url.removesuffix("/v1.0")
                _control(origin, "PUT", "/_simulator/limits/identityProtection",
                         {"capacity": RISK_SCALE, "perSeconds": 1.0, "retryAfter": False})
                started = time.perf_counter()
                sent = asyncio.run(runner(url, user_ids))
                elapsed = time.perf_counter() - started
                throttled = _control(origin, "GET", "/_simulator/stats", None)["throttled"]
            finally:
                process.terminate()
                process.wait(timeout=10)
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
