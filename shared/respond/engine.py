"""Run cases' playbooks under the guardrails, one recorded step at a time, many cases at once.

Each step is a registered class (:mod:`shared.respond.steps.registry`) and every step runs under the one
:class:`~shared.respond.recorder.StepRecorder`: the *intent* is written to the Actions table before it acts
and the *outcome* after, under a deterministic action id. A replayed or resumed run skips steps whose record
is final; a step left at ``intent`` (the process died mid-step) re-reads the target first, so a user already
disabled or whose sessions were already revoked is not written twice.

One actor per case: the engine claims each case's lease (:class:`shared.ledger.lease.CaseLease`, owner =
the invocation id) before it reads the case to plan, and re-checks it before every intent, so before every
write to the tenant. A case another invocation holds is answered at once as ``in_progress`` and nothing is
written for it; a holder whose lease was taken over (it ran out) stops before its next write.

Modes: ``dry-run`` records the plan (``planned``) and writes nothing outside the
ledger; ``approval`` records the plan and moves the case to
``awaiting_approval``; ``auto`` acts, within the blast radius. Protected
principals are never actioned, whatever the mode or approval. A user whose
privilege is unknown (memberships not read in full) is never disabled
unattended: in ``auto`` the case waits for an approver; a user known to hold a
privileged role is never disabled at all (Graph would refuse), the step is
recorded as skipped with the reason.

A run answers its cases concurrently (each case's own steps stay in playbook
order) so a 1,000-user incident runs at Graph's rate limits rather than at one
round trip per step; the per-API token buckets in :class:`GraphActions` keep the
pace, and :class:`ConfirmBatcher` folds the run's confirmCompromised asks into
calls of sixty. Reporting steps (the Sentinel incident, the notification) run
last, so they can say what was done, and also when nothing was (a plan waiting
for approval, a protected account, the blast radius) — except in dry-run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from shared.cases.model import Case
from shared.cases.policy.model import Policy
from shared.core.errors import DataError, TokenwardenError
from shared.ledger.case_store import CaseStore
from shared.ledger.connection import Ledger
from shared.ledger.lease import LEASE_SECONDS, CaseLease, Claim, LeaseLostError
from shared.ledger.pool import in_ledger_thread
from shared.respond.actions import ActionPhase, ActionRecord, ActionStore, CaseJournal
from shared.respond.facts import app_ids, case_facts, identifiers, untrusted_key_ids, user_target
from shared.respond.guardrails import BlastRadius, Guardrails, KnownPrincipal
from shared.respond.plan import PlannedStep, plan_steps, playbook_for
from shared.respond.recorder import StepRecorder
from shared.respond.steps.base import NO_TARGET, Mechanisms, ReportInput, StepCall, StepOutcome
from shared.respond.steps.confirm_batcher import ConfirmBatcher
from shared.respond.steps.registry import REPORTING_STEPS
from shared.respond.transport.graph_actions import GraphActions

if TYPE_CHECKING:
    from shared.respond.steps.key_cache import KeyCacheRefresher
    from shared.respond.steps.notify import Notifier
    from shared.respond.steps.sentinel import SentinelIncidents
    from shared.respond.steps.untrusted_keys import UntrustedKeyPublisher

__all__ = ["CaseResponse", "ResponseEngine", "StepOutcome"]

DEFAULT_CONCURRENCY = 64
"""Cases answered at once: enough to fill a confirmCompromised batch, few enough to stay polite to the ledger."""


@dataclass(frozen=True, kw_only=True)
class CaseResponse:
    case_id: str
    state: str
    outcomes: tuple[StepOutcome, ...]
    reason: str
    in_progress: bool = False
    """Another invocation holds the case (or took it over from this one): nothing more was written here."""


Verdict = Literal["act", "hold", "done"]


@dataclass(frozen=True, kw_only=True)
class _Decision:
    case: Case
    verdict: Verdict
    phase: ActionPhase | None
    """``refused`` or ``planned`` for a hold; None for a case only reported (nothing can act on it)."""
    reason: str
    steps: list[PlannedStep] = field(default_factory=list)


@dataclass(kw_only=True)
class _Prepared:
    case: Case
    steps: list[PlannedStep]
    verdict: Verdict
    reason: str
    outcomes: list[StepOutcome] = field(default_factory=list)
    lost: str | None = None
    """Why this invocation stopped acting: its lease was taken over."""


@dataclass
class ResponseEngine:
    ledger: Ledger
    policy: Policy
    guardrails: Guardrails
    graph: GraphActions | None
    invocation_id: str
    blast: BlastRadius
    actor: str = "tokenwarden"
    key_cache: KeyCacheRefresher | None = None
    incidents: SentinelIncidents | None = None
    notifier: Notifier | None = None
    publisher: UntrustedKeyPublisher | None = None
    on_record: Callable[[ActionRecord], None] | None = None
    """Called with every action record written (the TokenwardenAudit_CL sink), after the Actions table."""
    concurrency: int = DEFAULT_CONCURRENCY
    lease_seconds: float = LEASE_SECONDS
    lease_clock: Callable[[], datetime] | None = None
    """The wall clock leases are measured by (tests move it); None is the system clock."""
    _recorder: StepRecorder = field(init=False)
    _cases: CaseStore = field(init=False)
    _leases: dict[str, CaseLease] = field(init=False)

    def __post_init__(self) -> None:
        self._recorder = StepRecorder(store=ActionStore(self.ledger.actions, on_record=self.on_record),
                                      mode=self.guardrails.mode, invocation_id=self.invocation_id, actor=self.actor,
                                      guard=self._recheck)
        self._cases = CaseStore(self.ledger.cases)
        self._leases = {}

    # --- public ------------------------------------------------------------------------------------
    async def respond(self, case: Case, *, now: datetime, approved_by: str | None = None,
                      run_id: str | None = None) -> CaseResponse:
        return (await self.respond_all([case], now=now, approved_by=approved_by, run_id=run_id))[0]

    async def respond_all(self, cases: Sequence[Case], *, now: datetime, approved_by: str | None = None,
                          run_id: str | None = None) -> list[CaseResponse]:
        """Answer every case; *run_id* keys this run's incident comment and notification (default: the invocation).

        Callers that may be retried pass an id derived from what triggered them (the queue message, the
        Sentinel incident and event), so a retried run adds nothing the first attempt already added.
        """
        run = run_id or self.invocation_id
        batcher = ConfirmBatcher(self.graph) if self.graph is not None else None
        # A pipeline, not phases: each case is claimed, decided and answered in turn by one of `concurrency`
        # workers, so the first Graph write goes out after the first case's claim rather than after every case's
        # (at N = 1,000 the claims and alias queries alone took seconds before the first send).
        # Claim first, then read: what a holder plans from is what no other invocation can act on meanwhile; the
        # claim reads the case (with its ETag) and that read is what the run plans from: no second read.
        # Decisions are still taken in the callers' order (case i waits for case i - 1's decision), so the blast
        # radius admits the same cases however threads finish. Workers take cases in that order and a worker only
        # ever waits for an earlier case, which another worker holds and is running: no deadlock.
        count = len(cases)
        decided = [asyncio.Event() for _ in range(count)]
        results: list[CaseResponse | None] = [None] * count
        errors: list[tuple[int, BaseException]] = []
        undecided: list[BaseException] = []
        """A claim or decision that failed: no later case is decided."""
        order = iter(range(count))

        async def decide(index: int) -> CaseResponse | _Decision | None:
            """Case *index* claimed and decided in turn; None when an earlier case's claim or decision failed
            (the run stops deciding there, as it did when every case was decided before any acted)."""
            case = cases[index]
            try:
                claim, stored, names = await in_ledger_thread(self._claim_and_know, case)
                if index:
                    await decided[index - 1].wait()
                if undecided:
                    return None
                if claim is not None and not claim.held:
                    return self._in_progress(stored or case, claim)
                return self._decide(case, stored, approved_by=approved_by, run=run, known=names)
            except Exception as exc:
                errors.append((index, exc))
                undecided.append(exc)
                return None
            finally:
                decided[index].set()

        async def answer(verdict: CaseResponse | _Decision) -> CaseResponse:
            if isinstance(verdict, CaseResponse):
                return verdict
            try:
                item = await in_ledger_thread(self._persist, verdict, now=now)
                if item.verdict == "act":
                    await self._act(item, now=now, batcher=batcher)
                if item.verdict != "done" and self.guardrails.mode != "dry-run" and item.lost is None:
                    await self._report(item, now=now, run=run)
                if item.lost is not None:
                    return await in_ledger_thread(self._stopped, item)
                return await in_ledger_thread(self._finish, item, now=now)
            finally:
                await in_ledger_thread(self._release, verdict.case.case_id)

        async def worker() -> None:
            for index in order:
                verdict = await decide(index)
                if verdict is None:  # not decided: free a lease this run took on it, answer nothing
                    await in_ledger_thread(self._release, cases[index].case_id)
                    continue
                try:
                    results[index] = await answer(verdict)
                except Exception as exc:  # this case's answer failed; the others go on, then the run raises it
                    errors.append((index, exc))

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, count))))
        if errors:
            raise min(errors, key=lambda e: e[0])[1]
        return [r for r in results if r is not None]

    def _claim_and_know(self, case: Case) -> tuple[Claim | None, Case | None, KnownPrincipal]:
        """The claim, the case as it read it, and every name its user goes by: one thread hop for both."""
        claim, stored = self._claim(case.case_id)
        return claim, stored, self._known(stored or case)

    def _known(self, case: Case) -> KnownPrincipal:
        """Every name the case's user goes by: the case's, its enrichment's, and the ledger's UPN aliases.

        Fails closed: a ledger that cannot be read leaves what it would have told unresolved (the guardrails
        then treat the user as protected), it does not fail the run.
        """
        from shared.cases.principal import Principal

        enrichment = case.enrichment or {}
        users = [u for u in enrichment.get("users") or [] if isinstance(u, dict)]
        found = [u for u in users if u.get("status") == "ok"]
        problems = [f"Graph lookup of {u.get('key')}: {u.get('status')} {u.get('error') or ''}".strip()
                    for u in users if u.get("status") != "ok"]
        names = {str(n).lower() for n in identifiers(case) if n}
        kind, value = case.principal.kind, case.principal.value.lower()
        oid = next((str(u["id"]).lower() for u in found if u.get("id")), value if kind == "user" else None)
        upn = next((str(u["user_principal_name"]).lower() for u in found if u.get("user_principal_name")),
                   value if kind == "upn" else next((u.lower() for u in case.user_upns), None))
        memberships = [u.get("group_ids") for u in found]
        groups = frozenset(str(g).lower() for ids in memberships for g in ids or ()) \
            if memberships and all(ids is not None for ids in memberships) else None
        if kind not in ("user", "upn") and user_target(case) is None:
            return KnownPrincipal(names=frozenset(names), object_id=oid, upn=upn, group_ids=groups, is_user=False)
        try:
            if upn and not oid:
                alias = self._cases.resolve_alias(Principal("upn", upn))
                oid = alias.value if alias is not None and alias.kind == "user" else None
            if oid:
                aliases = self._cases.upns_for(Principal("user", oid))
                names.update(aliases)
                upn = upn or next(iter(aliases), None)
        except Exception as exc:  # any failure to read the ledger leaves the names unresolved (fails closed)
            problems.append(f"the ledger's aliases could not be read: {' '.join(str(exc).split())[:200]}")
        names.update(n for n in (oid, upn) if n)
        return KnownPrincipal(names=frozenset(names), object_id=oid, upn=upn, group_ids=groups,
                              problems=tuple(problems))

    # --- the lease ---------------------------------------------------------------------------------
    def _claim(self, case_id: str) -> tuple[Claim | None, Case | None]:
        """This invocation's claim on the case and the case as the claim read it; (None, None) when there is no
        such case (``_decide`` says so)."""
        lease = CaseLease(self.ledger.cases, case_id, owner=self.invocation_id, seconds=self.lease_seconds)
        if self.lease_clock is not None:
            lease.clock = self.lease_clock
        try:
            claim = lease.claim()
        except DataError:
            return None, None
        if claim.held:
            self._leases[case_id] = lease
        return claim, CaseStore.held(lease)

    def _in_progress(self, case: Case, claim: Claim) -> CaseResponse:
        until = claim.until.isoformat() if claim.until else "?"
        return CaseResponse(case_id=case.case_id, state=case.state, outcomes=(), in_progress=True,
                            reason=f"already in progress: invocation {claim.holder} holds the case until {until}")

    async def _recheck(self, case_id: str) -> None:
        """Before a tenant write: the lease is still ours (renewed when half spent), else LeaseLostError."""
        lease = self._leases.get(case_id)
        if lease is None:
            raise LeaseLostError(f"case {case_id}: this invocation ({self.invocation_id}) holds no lease on it")
        await in_ledger_thread(lease.renew)

    def _release(self, case_id: str) -> None:
        lease = self._leases.pop(case_id, None)
        if lease is not None:
            lease.release()

    def _stopped(self, item: _Prepared) -> CaseResponse:
        stored = self._cases.get(item.case.case_id) or item.case
        return CaseResponse(case_id=stored.case_id, state=stored.state, outcomes=tuple(item.outcomes),
                            reason=item.lost or "", in_progress=True)

    # --- stages ------------------------------------------------------------------------------------
    def _decide(self, case: Case, current: Case | None, *, approved_by: str | None, run: str,
                known: KnownPrincipal) -> _Decision:
        """What the guardrails allow for one case; no I/O, except that the blast radius counts admissions."""
        if current is None:
            raise TokenwardenError(f"there is no case {case.case_id}")
        if not current.is_open or (current.state == "contained" and approved_by is None):
            return _Decision(case=current, verdict="done", phase=None, reason=f"case is {current.state}; nothing to do")
        steps = plan_steps(current, self.policy, refresh_targets=self._refresh_targets(current), run_id=run,
                           incident=self._incident_name(current))
        if current.state == "containment_breached" and approved_by is None:
            # The steps that contained the case already succeeded, and repeating them cannot recall a token that
            # was issued before them: report the breach (incident comment, notification) and leave the next
            # move to an analyst. The state stays.
            return _Decision(case=current, verdict="hold", phase=None, steps=steps,
                             reason="containment breached: a token issued before the revocation was used after it; "
                                    "reported for an analyst")
        protected = self.guardrails.protection(known)
        if protected:
            return _Decision(case=current, verdict="hold", phase="refused", reason=protected, steps=steps)
        if not any(not s.kind.reporting and s.target != NO_TARGET for s in steps):
            # Nothing can act here (an "investigate" playbook, an app principal, no registered refresh): report,
            # but never call the case contained, count it against the blast radius, or ask an approver to
            # approve nothing. Its state stays.
            return _Decision(case=current, verdict="hold", phase=None, steps=steps,
                             reason=f"nothing in playbook {playbook_for(current, self.policy).name} can act on "
                                    "this case's principal; reported for an analyst")
        if self.guardrails.mode == "dry-run":
            return _Decision(case=current, verdict="hold", phase="planned", steps=steps,
                             reason="dry run: the plan is recorded and nothing was changed")
        if self.guardrails.mode == "approval" and approved_by is None:
            return _Decision(case=current, verdict="hold", phase="planned", steps=steps,
                             reason="approval mode: the planned steps wait for an approver")
        if approved_by is None and any(s.kind.needs_known_privilege for s in steps) \
                and case_facts(current).privileged_user is None:
            # Fail safe: a user whose roles could not be read in full may be an administrator. No machine disables
            # an account it cannot classify; an approver who has looked does.
            return _Decision(case=current, verdict="hold", phase="planned", steps=steps,
                             reason="privilege unknown: the user's directory roles could not be read in full, so "
                                    "disabling the account waits for an approver")
        refusal = self.blast.admit(current.case_id) if approved_by is None else None
        if refusal:
            return _Decision(case=current, verdict="hold", phase="planned", reason=refusal, steps=steps)
        who = f"approved by {approved_by}" if approved_by else "automatic response"
        return _Decision(case=current, verdict="act", phase=None, reason=who, steps=steps)

    def _persist(self, decision: _Decision, *, now: datetime) -> _Prepared:
        """Record the plan (or the refusal) and move the case; runs in a worker thread."""
        case, steps = decision.case, decision.steps
        if decision.verdict == "done":
            return _Prepared(case=case, steps=[], verdict="done", reason=decision.reason)
        acting = [s for s in steps if not s.kind.reporting]
        reporting = [s for s in steps if s.kind.reporting]
        if decision.verdict == "hold":
            if decision.phase is None:  # reported only
                return _Prepared(case=case, steps=[] if self.guardrails.mode == "dry-run" else reporting,
                                 verdict="hold", reason=decision.reason)
            if self.guardrails.mode == "dry-run" and decision.phase == "planned":
                return self._hold(case, steps, [], "planned", decision.reason, now, move=False)
            return self._hold(case, acting, reporting, decision.phase, decision.reason, now)
        if case.state != "responding":
            case = self._cases.transition(case.case_id, "responding", reason=f"{decision.reason}: playbook "
                                          f"{playbook_for(case, self.policy).name}", at=now,
                                          holder=self._leases.get(case.case_id))
        return _Prepared(case=case, steps=steps, verdict="act", reason=decision.reason)

    def _hold(self, case: Case, held: list[PlannedStep], reporting: list[PlannedStep], phase: ActionPhase,
              reason: str, now: datetime, *, move: bool = True) -> _Prepared:
        detail = {"reason": reason, "mode": self.guardrails.mode}
        outcomes = [self._recorder.record(case.case_id, s.name, s.target, phase, detail, now) for s in held]
        if move and case.state in ("enriched", "failed"):
            case = self._cases.transition(case.case_id, "awaiting_approval", reason=reason, at=now,
                                          holder=self._leases.get(case.case_id))
        return _Prepared(case=case, steps=reporting, verdict="hold", reason=reason, outcomes=outcomes)

    async def _act(self, item: _Prepared, *, now: datetime, batcher: ConfirmBatcher | None) -> None:
        tools = Mechanisms(graph=self.graph, batcher=batcher, key_cache=self.key_cache, publisher=self.publisher)
        await self._run_steps(item, [s for s in item.steps if not s.kind.reporting], tools, now=now)

    async def _report(self, item: _Prepared, *, now: datetime, run: str) -> None:
        tools = Mechanisms(incidents=self.incidents, notifier=self.notifier)
        await self._run_steps(item, [s for s in item.steps if s.kind.reporting], tools, now=now, run=run)

    async def _run_steps(self, item: _Prepared, steps: Sequence[PlannedStep], tools: Mechanisms, *,
                         now: datetime, run: str | None = None) -> None:
        """Run *steps* in order through the recorder; a lost lease stops the case before its next write.

        The steps share one journal of the case's records (read once; an outcome written with the next intent),
        flushed when they end, however they end.
        """
        case = item.case
        if not steps:
            return
        journal = self._recorder.journal(case.case_id)
        try:
            await self._record_steps(item, steps, tools, journal, now=now, run=run)
        finally:
            await in_ledger_thread(journal.flush)

    async def _record_steps(self, item: _Prepared, steps: Sequence[PlannedStep], tools: Mechanisms,
                            journal: CaseJournal, *, now: datetime, run: str | None) -> None:
        case = item.case
        for planned in steps:
            report = None if run is None else ReportInput(
                run_id=run, reason=item.reason, ledger=self.ledger,
                acted=[o for o in item.outcomes if o.step not in REPORTING_STEPS],
                reported=[o for o in item.outcomes if o.step in REPORTING_STEPS])
            call = StepCall(case_id=case.case_id, target=planned.target, tools=tools, case=case,
                            app_scope=app_ids(case) or None, kids=untrusted_key_ids(case),
                            reason=f"case {case.case_id}: {', '.join(case.rule_ids)}", report=report)
            try:
                item.outcomes.append(await self._recorder.run(planned.kind, call, now=now, journal=journal,
                                                              plan={"location": planned.step.location}))
            except LeaseLostError as exc:
                item.lost = str(exc)
                return

    def _finish(self, item: _Prepared, *, now: datetime) -> CaseResponse:
        outcomes = tuple(item.outcomes)
        if item.verdict != "act":
            return CaseResponse(case_id=item.case.case_id, state=item.case.state, outcomes=outcomes,
                                reason=item.reason)
        failed = [o for o in outcomes if o.phase == "failed"]
        # The run's last write to the case also frees its lease (one round trip); if it fails, the release in
        # respond_all's ``finally`` still frees it.
        holder = self._leases.get(item.case.case_id)
        if failed:
            reason = "; ".join(f"{o.step} on {o.target} failed: {o.detail.get('error')}" for o in failed)
            moved = self._cases.transition(item.case.case_id, "failed", reason=reason, at=now, holder=holder,
                                           release=True)
        else:
            acted = sum(1 for o in outcomes if o.step not in REPORTING_STEPS)
            reason = f"{item.reason}: {acted} step(s) done"
            moved = self._cases.transition(item.case.case_id, "contained", reason=reason, at=now, holder=holder,
                                           release=True)
        self._leases.pop(item.case.case_id, None)
        return CaseResponse(case_id=moved.case_id, state=moved.state, outcomes=outcomes, reason=reason)

    # --- plan inputs -------------------------------------------------------------------------------
    def _refresh_targets(self, case: Case) -> list[str]:
        if self.key_cache is None:
            return [NO_TARGET]
        return [t.key for t in self.key_cache.targets_for(app_ids(case) or None)] or [NO_TARGET]

    def _incident_name(self, case: Case) -> str | None:
        if case.sentinel_incident:
            return case.sentinel_incident
        return self.incidents.incident_name_for(case.case_id) if self.incidents is not None else None
