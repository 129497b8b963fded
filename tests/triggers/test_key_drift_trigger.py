"""The ``key_drift`` timer end to end: issuers served by a local HTTP server, snapshots and actions on Azurite,
app restarts on the simulator's ARM. A removed key restarts the registered apps once, and never again on replay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

import shared.ledger.connection
from functions.key_drift import bp
from shared.devkit.simulator import SimulatorServer, TenantState
from shared.ledger.connection import Ledger, LedgerTableNames
from shared.ledger.key_snapshot_store import KeySnapshotStore, key_snapshot_store
from shared.respond.actions import ActionStore
from shared.respond.key_refresh import PUBLISH_STEP, REFRESH_STEP
from tests.support.graph import serving
from tests.support.issuers import IssuerServer, kid
from tests.support.ledgers import LedgerFactory
from tests.support.servers import running

pytest_plugins = ("tests.support.azurite",)

SUB = "00000000-0000-0000-0000-0000000000aa"
SITE = f"/subscriptions/{SUB}/resourceGroups/rg-apps/providers/Microsoft.Web/sites/orders-api"
SITE_KEY = "rg-apps/orders-api"


@dataclass
class Invocation:
    invocation_id: str = "inv-key-drift-test"


@dataclass
class Harness:
    issuer: IssuerServer
    simulator: SimulatorServer
    ledger: Ledger

    def tick(self) -> None:
        app = func.FunctionApp()
        app.register_functions(bp)
        (function,) = app.get_functions()
        function.get_user_function()(TimerRequest(past_due=False), Invocation())

    @property
    def restarts(self) -> int:
        return self.simulator.state.site_restarts.get(SITE_KEY, 0)

    @property
    def snapshots(self) -> KeySnapshotStore:
        return key_snapshot_store(self.ledger)


@pytest.fixture
def harness(ledger_factory: LedgerFactory, ledger_names: LedgerTableNames, storage_environment: dict[str, str],
            monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    names = replace(ledger_names, key_snapshots=f"KeySnapshots{uuid.uuid4().hex[:16]}")
    ledger = ledger_factory(names)
    with running(IssuerServer()) as issuer, \
            serving(TenantState(tenant_id="aaaaaaaa-0000-0000-0000-000000000001")) as simulator:
        issuer.keys["tenant"] = [kid("a1"), kid("a2")]
        environment = {**storage_environment, "KEY_SOURCES": f"{issuer.origin}/tenant/v2.0/.well-known/openid-"
                                                             "configuration",
                       "GRAPH_ENDPOINT": simulator.url, "ARM_ENDPOINT": simulator.url,
                       "CACHE_REFRESH_APPS": json.dumps([{"app_id": "*", "mechanism": "restart", "target": SITE}])}
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(shared.ledger.connection, "open_ledger", lambda settings, **_: ledger_factory(names))
        yield Harness(issuer=issuer, simulator=simulator, ledger=ledger)
    ledger.service.delete_table(names.key_snapshots)  # the factory drops the other four


def test_key_drift_binding_reads_its_schedule_from_an_app_setting() -> None:
    app = func.FunctionApp()
    app.register_functions(bp)
    (function,) = app.get_functions()
    assert function.get_function_name() == "key_drift"
    assert json.loads(function.get_function_json())["bindings"] == [
        {"direction": "IN", "type": "timerTrigger", "name": "timer", "schedule": "%KEY_DRIFT_SCHEDULE%",
         "runOnStartup": False, "useMonitor": True}]


def test_removed_key_restarts_registered_apps_once_and_a_replay_does_not_restart_again(harness: Harness) -> None:
    harness.tick()  # baseline: stored, no drift, nothing to refresh
    assert harness.restarts == 0 and harness.snapshots.history() == ()

    harness.issuer.keys["tenant"] = [kid("a1"), kid("a3")]  # a2 removed, a3 added
    harness.tick()
    assert harness.restarts == 1
    (drift,) = harness.snapshots.history()
    assert [k.kid for k in drift.removed] == [kid("a2")] and [k.kid for k in drift.added] == [kid("a3")]
    assert drift.handled

    harness.tick()  # unchanged key set: nothing owed
    assert harness.restarts == 1

    # A run that died after refreshing but before marking the row handled: the next run owes it again, finds the
    # refresh recorded as succeeded under the same ids, and restarts nothing.
    harness.ledger.key_snapshots.update_entity(  # type: ignore[union-attr]
        {"PartitionKey": harness.ledger.key_snapshots.query_entities(  # type: ignore[union-attr]
            "RowKey eq @rk", parameters={"rk": drift.event_id}).next()["PartitionKey"],
         "RowKey": drift.event_id, "Handled": False})
    assert harness.snapshots.unhandled() != ()
    harness.tick()
    assert harness.restarts == 1
    assert harness.snapshots.unhandled() == ()

    actions = list(harness.ledger.actions.list_entities())
    steps = sorted((a["Step"], a["Phase"]) for a in actions)
    assert steps == [(PUBLISH_STEP, "succeeded"), (REFRESH_STEP, "succeeded")]
    published = json.loads(next(a for a in actions if a["Step"] == PUBLISH_STEP)["Detail"])
    assert published["kids"] >= 1
    assert ActionStore(harness.ledger.actions).for_case(str(actions[0]["PartitionKey"]))


def test_refresh_that_fails_is_retried_by_the_next_run(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    harness.tick()
    harness.issuer.keys["tenant"] = [kid("a1")]
    monkeypatch.setenv("ARM_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("GRAPH_ENDPOINT", "http://127.0.0.1:9")
    harness.tick()
    assert harness.restarts == 0
    assert len(harness.snapshots.unhandled()) == 1  # still owed

    monkeypatch.setenv("ARM_ENDPOINT", harness.simulator.url)
    monkeypatch.setenv("GRAPH_ENDPOINT", harness.simulator.url)
    harness.tick()
    assert harness.restarts == 1
    assert harness.snapshots.unhandled() == ()
