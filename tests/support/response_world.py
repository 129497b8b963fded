"""A scanned, triaged demo tenant in the ledger with the Graph simulator running: what response tests act on.

Opt in with ``pytest_plugins = ("tests.support.response_world", ...)`` beside the Azurite, demo-log and
Graph plugins; the ``world`` fixture gives the ledger, the simulator and the triaged cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from shared.cases.enrich.graph import GraphDirectory, build_graph_client
from shared.cases.model import Case
from shared.cases.policy.loader import load_policy
from shared.core.settings import load_settings
from shared.devkit.simulator import SimulatorServer
from shared.jobs.scan import scan_and_triage
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger
from shared.respond.engine import ResponseEngine
from shared.respond.guardrails import BlastRadius, Guardrails
from shared.respond.transport.graph_actions import GraphActions
from shared.respond.transport.ratelimit import limiters
from shared.respond.transport.retry import RetryPolicy
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.graph import StaticCredential

NOW = DEMO_END + timedelta(minutes=5)


@dataclass
class World:
    ledger: Ledger
    simulator: SimulatorServer
    cases: list[Case]

    def engine(self, invocation: str = "inv-1", *, sleep: object = None, **settings: str) -> ResponseEngine:
        rails = Guardrails.from_settings(load_settings(settings))
        client = build_graph_client(StaticCredential(), base_url=self.simulator.graph_url, sdk_retries=False)
        graph = GraphActions(client, limiters=limiters(), retry=RetryPolicy(max_total_seconds=30), sleep=sleep)  # type: ignore[arg-type]
        return ResponseEngine(ledger=self.ledger, policy=load_policy(), guardrails=rails, graph=graph,
                              invocation_id=invocation, blast=BlastRadius(rails, actioned_this_hour=set()))

    def case(self, rule_id: str, *, privileged: bool = False) -> Case:
        """The first case of *rule_id* whose user does (or, by default, does not) hold a privileged role."""
        found = next(c for c in self.cases if rule_id in c.rule_ids and privileged is any(
            u.get("privileged") is True for u in (c.enrichment or {}).get("users") or []))
        stored = CaseStore(self.ledger.cases).get(found.case_id)
        assert stored is not None
        return stored


@pytest.fixture
def world(demo_logs: DemoLogs, storage_environment: dict[str, str], ledger: Ledger,
          simulator: SimulatorServer) -> World:
    settings = load_settings(demo_logs.environment(**storage_environment, SCAN_LOOKBACK="24h", SCAN_MAX_CHUNK="25h"))
    directory = GraphDirectory(build_graph_client(StaticCredential(), base_url=simulator.graph_url))
    _, outcomes = scan_and_triage(settings, ledger=ledger, directory=directory, now=NOW)
    return World(ledger=ledger, simulator=simulator, cases=[o.case for o in outcomes])
