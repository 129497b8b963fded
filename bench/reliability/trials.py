"""One trial each: concurrent work on one case, a protected user under faults, a Graph answer lost after apply.

Each trial opens its own tables and its own simulator on the :class:`~bench.reliability.stack.Stack` and
returns what its figure counts. Cases are opened as ``POST /respond`` opens them (a manual finding) and are
answered through :func:`shared.jobs.respond.respond_to_cases`, the path the queue worker, the approval route
and the Sentinel intake share.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from bench.reliability.stack import Stack, duplicates, respond, together, wall_now

__all__ = ["POLICY", "concurrency_trial", "lost_answer_trial", "protection_trial"]

POLICY = """
version: 1
playbooks:
  contain:
    description: revoke, confirm compromised, disable
    steps: [revoke_sessions, confirm_compromised, disable_user]
triage:
  - name: manual
    when: {rule: manual-response}
    severity: High
    playbook: contain
default:
  severity: High
  playbook: contain
"""
STEP_WRITES = {"revoke_sessions": ("revokeSignInSessions", "POST", "/users/{user}/revokeSignInSessions"),
               "disable_user": ("updateUser", "PATCH", "/users/{user}"),
               "confirm_compromised": ("confirmCompromised", "POST",
                                       "/identityProtection/riskyUsers/confirmCompromised")}


def _policy(stack: Stack) -> str:
    path = stack.demo_folder / "reliability-policy.yaml"
    if not path.exists():
        path.write_text(POLICY, encoding="utf-8")
    return str(path)


def _open_case(ledger: Any, user_id: str, *, upn: str | None = None) -> str:
    from shared.api.respond import MANUAL_RULE_ID
    from shared.detect.findings import Finding
    from shared.ledger.recorder import record_findings

    now = wall_now()
    finding = Finding(rule_id=MANUAL_RULE_ID, rule_title="Manual response", severity="High", first_seen=now,
                      last_seen=now, count=1, user_upn=upn, user_object_id=user_id, app_id=None, ip_address=None,
                      key_id=None, token_id=None, issuer=None, tenant_id=None, source_table="api",
                      evidence={"requested_by": "reliability"})
    [change] = record_findings(ledger, [finding], now=now).changes
    return change.case_id


def concurrency_trial(stack: Stack, n: int, kind: Literal["approvals", "deliveries"]) -> int:
    """*n* invocations work on one case at once: approvals of a planned case, or deliveries of its message.

    Returns the tenant writes beyond the first per (write, user).
    """
    with stack.simulator() as simulator, stack.ledger() as ledger:
        mode = "approval" if kind == "approvals" else "auto"
        settings = stack.settings(simulator.url, logs=False, RESPONSE_MODE=mode, TRIAGE_POLICY_FILE=_policy(stack))
        user = next(u for u in simulator.state.users() if u.account_enabled)
        case_id = _open_case(ledger, user.id)
        now = wall_now()
        if kind == "approvals":
            planned = respond(settings, ledger, case_id, invocation="plan", now=now)
            assert planned.state == "awaiting_approval", planned.reason
            together([lambda i=i: respond(settings, ledger, case_id, invocation=f"approve-{i}", now=now,
                                          approved_by=f"approver{i}@contoso.example", enrich=False)
                      for i in range(n)])
        else:
            together([lambda i=i: respond(settings, ledger, case_id, invocation=f"delivery-{i}", now=now)
                      for i in range(n)])
        return duplicates(simulator.state.writes)


ProtectionFault = Literal["graph users 503", "graph memberships 503", "ledger aliases unreadable",
                          "enrichment batch 500"]


def protection_trial(stack: Stack, fault: ProtectionFault) -> int:
    """A protected user (listed by UPN, or by group) named by object id while *fault* holds, in auto mode.

    Returns the tenant writes that reached the protected user (target 0).
    """
    from bench.reliability.storage_faults import QueryFault

    transport = QueryFault("'alias'") if fault == "ledger aliases unreadable" else None
    with stack.simulator() as simulator, stack.ledger(transport=transport) as ledger:
        user = next(u for u in simulator.state.users() if u.account_enabled
                    and simulator.state.transitive_member_of(u.id))
        protected = user.user_principal_name
        if fault == "graph users 503":
            simulator.faults.fail("/users/*", status=503, times=None, method="GET")
        elif fault == "graph memberships 503":
            protected = f"group:{simulator.state.transitive_member_of(user.id)[0].id}"
            simulator.faults.fail("/users/*/transitiveMemberOf*", status=503, times=None, method="GET")
        elif fault == "enrichment batch 500":
            simulator.faults.fail("/$batch", status=500, times=None, method="POST")
        else:  # the ledger knows the UPN as an alias, but cannot be read; Graph is down too
            simulator.faults.fail("/users/*", status=503, times=None, method="GET")
        settings = stack.settings(simulator.url, logs=False, TRIAGE_POLICY_FILE=_policy(stack),
                                  PROTECTED_PRINCIPALS=protected)
        case_id = _open_case(ledger, user.id)
        respond(settings, ledger, case_id, invocation="protect", now=wall_now())
        return len([w for w in simulator.state.writes
                    if w.target.lower() == user.id.lower() and w.action in ("revokeSignInSessions", "updateUser",
                                                                             "confirmCompromised")])


LostHow = Literal["answer dropped after apply", "succeeded record lost"]


def lost_answer_trial(stack: Stack, step: str, how: LostHow) -> int:
    """Graph applied *step*'s write but the answer (or the ledger's record of it) was lost; the case goes on.

    Returns that step's writes beyond the first (its duplicate effects).
    """
    from shared.respond.actions import ActionStore

    action, method, path = STEP_WRITES[step]
    with stack.simulator() as simulator, stack.ledger() as ledger:
        settings = stack.settings(simulator.url, logs=False, TRIAGE_POLICY_FILE=_policy(stack))
        user = next(u for u in simulator.state.users() if u.account_enabled)
        case_id = _open_case(ledger, user.id)
        now = wall_now()
        if how == "answer dropped after apply":
            simulator.faults.drop_after_apply(path.format(user=user.id), method=method, times=1)
            respond(settings, ledger, case_id, invocation="first", now=now)
        else:
            respond(settings, ledger, case_id, invocation="first", now=now)
            store = ActionStore(ledger.actions)
            record = store.get(case_id, step, user.id)
            assert record is not None
            store.table.delete_entity(case_id, record.action_id)
            store.record(case_id, step, user.id, phase="intent", mode="auto", invocation_id="first", detail={},
                         now=now)
            respond(settings, ledger, case_id, invocation="resume", now=now + timedelta(minutes=1),
                    approved_by="resume", enrich=False)
        return max(0, len(simulator.state.writes_of(action, user.id)) - 1)
