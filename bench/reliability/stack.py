"""The local stack the reliability trials run on, and the trials themselves: Azurite, the Graph simulator, the
demo tenant's logs, and the real response path (scan, respond, approve) against them.

The tests (``tests/faults/``) call these trials with few repetitions and assert their targets; the figure
modules (``bench/reliability/fig_*.py``) call the same trials with many and report the counts. Every trial
uses tables of its own and a simulator of its own, so trials never see each other's writes.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken

from shared.ledger.connection import Ledger, LedgerTableNames

__all__ = ["TENANT_WRITES", "Stack", "StackCredential", "duplicates", "together"]

TENANT_WRITES = ("revokeSignInSessions", "updateUser", "confirmCompromised")
"""The simulator's records of writes that change a user: what "a tenant write" counts."""


class StackCredential:
    """Entra stand-in: the simulator checks that a bearer token is present, as Graph checks it is valid."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("simulated-token", int(time.time()) + 3600)


def duplicates(writes: list[Any]) -> int:
    """Tenant writes beyond the first for each (write, user): the count every target here wants at 0."""
    counts = Counter((w.action, w.target.lower()) for w in writes if w.action in TENANT_WRITES)
    return sum(n - 1 for n in counts.values() if n > 1)


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at the same instant (a barrier), each on its own thread; results (or raised errors)."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:  # a raised error is an answer too: the caller counts it
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


WORKSPACE_ID = "5e1ab1e0-0000-4000-8000-00000000feed"
"""The local Log Analytics endpoint's workspace id (any GUID: the endpoint serves one workspace)."""


def wall_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class RememberedWorkspace:
    """The demo logs' workspace, answering a query it has answered before from memory.

    The key is the query text as received (rule parameters, the ledger's own revocations among them, are bound
    into it) and the absolute timespan, and the logs never change, so a remembered answer is exactly what
    DuckDB would compute again. Every storage-kill run scans the same windows (they share
    :attr:`Stack.scenario_start`), so only the first run pays for the queries: a third of a second each, twelve
    rules, three scans a run, otherwise most of a run's time. What the trials measure (ledger writes, cases,
    Graph writes) is untouched.
    """

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace
        self.answered: dict[tuple[str, Any], Any] = {}
        self.computed = 0
        self._lock = threading.Lock()

    def run_received(self, text: str, *, timespan: Any, label: str) -> Any:
        key = (text, timespan)
        with self._lock:
            known = self.answered.get(key)
        if known is not None:
            return known
        outcome = self.workspace.run_received(text, timespan=timespan, label=label)
        with self._lock:
            self.answered[key] = outcome
            self.computed += 1
        return outcome


@dataclass
class Stack:
    """Azurite (its connection string) and the demo tenant's logs folder; simulators are made per trial.

    The logs are served once, by the local Log Analytics endpoint (``tokenwarden workspace serve``), and every
    scan and enrichment of every trial queries it through the deployed path (:class:`LogAnalyticsSource`);
    otherwise each scan and each respond pass would load the exports into a new DuckDB (about a second each,
    twenty times per storage-kill run). The endpoint remembers its answers (:class:`RememberedWorkspace`).
    """

    connection_string: str
    demo_folder: Path
    scenario_start: datetime = field(default_factory=wall_now)
    """The instant every storage-kill run starts its scenario at (its scans' ``now``, its leases' clock), so all
    runs ask the logs the same questions. It is when the stack was made, so the scenario never runs ahead of the
    Graph simulator's own clock (a revoke read back after a lost answer compares the two)."""
    _workspace_url: str | None = None
    _workspace: RememberedWorkspace | None = None
    _workspace_lock: threading.Lock = field(default_factory=threading.Lock)

    def workspace_url(self) -> str:
        """The local Log Analytics endpoint over the demo logs, started on first use and kept for the process."""
        with self._workspace_lock:
            if self._workspace_url is None:
                import atexit

                from shared.detect.logsources.local import LocalWorkspace
                from shared.devkit.workspace_server.server import build_server

                self._workspace = RememberedWorkspace(LocalWorkspace.from_exports(self.demo_folder))
                server = build_server(self._workspace, workspace_id=WORKSPACE_ID)  # type: ignore[arg-type]
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                thread.start()

                def stop() -> None:
                    server.shutdown()
                    server.server_close()

                atexit.register(stop)
                self._workspace_url = server.url
            return self._workspace_url

    def names(self) -> LedgerTableNames:
        suffix = uuid.uuid4().hex[:16]
        return LedgerTableNames(cases=f"Cases{suffix}", findings=f"Findings{suffix}",
                                checkpoints=f"Checkpoints{suffix}", actions=f"Actions{suffix}")

    def settings(self, simulator_url: str, *, logs: bool = True, **overrides: str) -> dict[str, str]:
        """App settings for one trial. ``logs=False`` leaves the workspace out: a trial that never scans (the
        concurrency races) then enriches without IP facts (recorded as not looked up), a second saved per pass."""
        from tools.azurite import CONNECTION_SETTING

        jwks = self.demo_folder / "jwks"
        workspace = {"LOG_ANALYTICS_WORKSPACE_ID": WORKSPACE_ID, "LOG_ANALYTICS_ENDPOINT": self.workspace_url()} \
            if logs else {}
        settings = {
            CONNECTION_SETTING: self.connection_string, **workspace,
            "KEY_SOURCES": f"{jwks / 'organizations.json'},{jwks / 'consumers.json'}",
            "APP_CATALOG_FILE": str(self.demo_folder / "apps.json"), "GRAPH_ENDPOINT": simulator_url,
            "ARM_ENDPOINT": simulator_url, "RESPONSE_MODE": "auto", "BLAST_RADIUS_PER_RUN": "50",
            "BLAST_RADIUS_PER_HOUR": "500", "SCAN_LOOKBACK": "400d", "SCAN_MAX_CHUNK": "401d",
            "INGESTION_DELAY": "0m"}
        settings.update(overrides)
        return settings

    @contextmanager
    def simulator(self, *, throttled: bool = False) -> Iterator[Any]:
        """A Graph simulator serving the demo tenant, on a port of its own, stopped when the block ends.

        Throttling is off unless asked for: these trials count duplicated writes, not pacing, and Identity
        Protection's one request a second would make each trial wait for nothing it measures.
        """
        from shared.devkit.simulator import build_simulator, load_tenant_state
        from tests.support.servers import running

        with running(build_simulator(load_tenant_state(self.demo_folder),
                                     **({} if throttled else {"limits": {}}))) as server:
            yield server

    @contextmanager
    def ledger(self, names: LedgerTableNames | None = None, *, transport: Any = None) -> Iterator[Ledger]:
        """Fresh tables (dropped afterwards); *transport* replaces the SDK's HTTP transport (fault injection)."""
        from azure.data.tables import TableServiceClient

        names = names or self.names()
        # Retries stay on (a dropped keep-alive connection is retried, as in Azure) but without backoff, so a
        # dead account fails its calls at once instead of after azure-core's waits.
        options: dict[str, Any] = {"transport": transport, "retry_total": 3, "retry_backoff_factor": 0.0} \
            if transport is not None else {}
        service = TableServiceClient.from_connection_string(self.connection_string, **options)
        tables = [service.create_table_if_not_exists(name)
                  for name in (names.cases, names.findings, names.checkpoints, names.actions)]
        ledger = Ledger(service=service, cases=tables[0], findings=tables[1], checkpoints=tables[2],
                        actions=tables[3])
        try:
            yield ledger
        finally:
            cleaner = TableServiceClient.from_connection_string(self.connection_string)
            for name in (names.cases, names.findings, names.checkpoints, names.actions):
                cleaner.delete_table(name)
            cleaner.close()
            ledger.close()


def scan_and_queue(settings: Mapping[str, str], ledger: Ledger, *, now: datetime) -> list[str]:
    """One scan timer run: the cases it would queue (changed ones, then stale outbox marks)."""
    from shared.core.settings import load_settings
    from shared.jobs.scan import run_scan

    return list(run_scan(load_settings(settings), now=now, ledger=ledger).cases_to_queue)


def respond(settings: Mapping[str, str], ledger: Ledger, case_id: str, *, invocation: str, now: datetime,
            clock: Callable[[], datetime] | None = None, approved_by: str | None = None,
            enrich: bool = True) -> Any:
    """One respond-worker run for one case (what the queue trigger does with one message)."""
    from shared.core.settings import load_settings
    from shared.jobs.respond import respond_to_cases

    answers = respond_to_cases(load_settings(settings), ledger, [case_id], invocation_id=invocation,
                               run_id=f"queue:{invocation}", now=now, credential=StackCredential(),  # type: ignore[arg-type]
                               clock=clock, approved_by=approved_by, enrich=enrich)
    return answers[0] if answers else None


def later(start: datetime, rounds: int) -> datetime:
    from shared.jobs.scan import REQUEUE_AFTER

    return start + rounds * (REQUEUE_AFTER + timedelta(minutes=1))


def run_async(coroutine: Any) -> Any:
    return asyncio.run(coroutine)
