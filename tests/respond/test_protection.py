"""Protection that fails closed: a user whose protection cannot be decided is treated as protected.

The whole response path runs (findings recorded, enrichment against the Graph simulator, the engine in auto
mode); the simulator's write log says whether anything reached the tenant.
"""

from __future__ import annotations

from datetime import timedelta

from shared.cases.model import Case
from shared.core.settings import load_settings
from shared.detect.findings import Finding
from shared.devkit.simulator import SimulatorServer, SimUser
from shared.jobs.respond import respond_to_cases
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger
from shared.ledger.recorder import record_findings
from shared.respond.engine import CaseResponse
from tests.support.demo import DemoLogs
from tests.support.graph import StaticCredential
from tests.support.response_world import NOW

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs", "tests.support.graph")

TENANT_WRITES = ("revokeSignInSessions", "updateUser", "confirmCompromised")


def _finding(*, oid: str | None = None, upn: str | None = None) -> Finding:
    return Finding(rule_id="manual-response", rule_title="Manual response", severity="High", first_seen=NOW,
                   last_seen=NOW, count=1, user_upn=upn, user_object_id=oid, app_id=None, ip_address=None,
                   key_id=None, token_id=None, issuer=None, tenant_id=None, source_table="api",
                   evidence={"requested_by": "test"})


def _respond(ledger: Ledger, demo_logs: DemoLogs, storage_environment: dict[str, str], simulator: SimulatorServer,
             finding: Finding, protected: str, invocation: str = "inv-p") -> CaseResponse:
    settings = load_settings(demo_logs.environment(
        **storage_environment, GRAPH_ENDPOINT=simulator.url, RESPONSE_MODE="auto", PROTECTED_PRINCIPALS=protected))
    recorded = record_findings(ledger, [finding], now=NOW)
    case_ids = list(dict.fromkeys(change.case_id for change in recorded.changes))
    [answer] = respond_to_cases(settings, ledger, case_ids, invocation_id=invocation, run_id=f"run-{invocation}",
                                now=NOW, credential=StaticCredential())  # type: ignore[arg-type]
    return answer


def _writes(simulator: SimulatorServer) -> list[str]:
    return [w.action for w in simulator.state.writes if w.action in TENANT_WRITES]


def _user(simulator: SimulatorServer) -> SimUser:
    return next(u for u in simulator.state.users() if u.account_enabled)


def _case(ledger: Ledger, answer: CaseResponse) -> Case:
    case = CaseStore(ledger.cases).get(answer.case_id)
    assert case is not None
    return case


def test_a_user_protected_by_upn_and_named_by_object_id_stays_protected_while_graph_fails(
        ledger: Ledger, demo_logs: DemoLogs, storage_environment: dict[str, str], simulator: SimulatorServer) -> None:
    user = _user(simulator)
    simulator.faults.fail("/users/*", status=503, times=None, method="GET")
    answer = _respond(ledger, demo_logs, storage_environment, simulator, _finding(oid=user.id),
                      protected=user.user_principal_name)
    assert _writes(simulator) == []
    assert "protection undecided" in answer.reason and "object id" not in answer.reason.split("(")[0]
    case = _case(ledger, answer)
    assert case.state == "awaiting_approval" and "protection undecided" in case.transitions[-1].reason


def test_with_graph_healthy_the_same_request_is_refused_as_protected(
        ledger: Ledger, demo_logs: DemoLogs, storage_environment: dict[str, str], simulator: SimulatorServer) -> None:
    user = _user(simulator)
    answer = _respond(ledger, demo_logs, storage_environment, simulator, _finding(oid=user.id),
                      protected=user.user_principal_name)
    assert _writes(simulator) == [] and answer.reason.startswith("protected principal")


def test_an_alias_the_ledger_knows_decides_protection_without_graph(
        ledger: Ledger, demo_logs: DemoLogs, storage_environment: dict[str, str], simulator: SimulatorServer) -> None:
    user = _user(simulator)
    # An earlier finding carried both names: the ledger keeps the UPN as an alias of the object id.
    record_findings(ledger, [_finding(oid=user.id, upn=user.user_principal_name)], now=NOW - timedelta(hours=1))
    simulator.faults.fail("/users/*", status=503, times=None, method="GET")
    answer = _respond(ledger, demo_logs, storage_environment, simulator, _finding(oid=user.id),
                      protected=user.user_principal_name.upper())
    assert _writes(simulator) == [] and answer.reason.startswith("protected principal")


def test_a_member_of_a_protected_group_is_refused(
        ledger: Ledger, demo_logs: DemoLogs, storage_environment: dict[str, str], simulator: SimulatorServer) -> None:
    group = simulator.state.groups()[0]
    member = next(u for u in simulator.state.users()
                  if u.account_enabled and group.id.lower() in
                  {c.id.lower() for c in simulator.state.transitive_member_of(u.id)})
    answer = _respond(ledger, demo_logs, storage_environment, simulator, _finding(oid=member.id),
                      protected=f"group:{group.id}")
    assert _writes(simulator) == [] and "member of group" in answer.reason


def test_an_unprotected_user_is_still_held_when_graph_cannot_say_who_it_is(
        ledger: Ledger, demo_logs: DemoLogs, storage_environment: dict[str, str], simulator: SimulatorServer) -> None:
    user = _user(simulator)
    simulator.faults.fail("/users/*", status=503, times=None, method="GET")
    answer = _respond(ledger, demo_logs, storage_environment, simulator, _finding(oid=user.id),
                      protected="someone.else@contoso.example")
    assert _writes(simulator) == [] and "protection undecided" in answer.reason
    simulator.faults.clear()  # Graph answers again: the next run decides, and acts
    again = _respond(ledger, demo_logs, storage_environment, simulator, _finding(oid=user.id),
                     protected="someone.else@contoso.example", invocation="inv-later")
    assert again.state == "contained", again.reason
    assert "revokeSignInSessions" in _writes(simulator)
