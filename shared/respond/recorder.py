"""One recorder runs every response step: intent before it acts, outcome after, under a deterministic action id.

The sequence, written once for the response engine's steps and the key jobs' refreshes alike:

1. a step whose record is final (succeeded, skipped) is not run again: its stored outcome is returned, marked
   ``replayed``;
2. a step that cannot run (:meth:`ResponseStep.unavailable`: no Graph, no registered refresh, a user Graph
   would refuse to disable) is recorded ``failed`` or ``skipped`` with the reason, and nothing is sent;
3. in ``dry-run`` mode the plan is recorded (``planned``) and nothing is sent;
4. the *guard* runs before every write to the tenant (the engine re-checks the case's lease there: a holder
   whose lease was taken over raises and stops before it writes);
5. the intent is recorded, then the step acts; an intent found without an outcome (the process died between
   acting and recording) is handed to the step as :class:`Resume` so it reads the target back before it
   writes again;
6. the outcome is recorded: ``succeeded`` with the step's detail, or ``failed`` with a
   :class:`~shared.core.errors.TokenwardenError`'s one line.

Every read and write goes through :class:`~shared.respond.actions.ActionStore`, in a worker thread (the table
client is synchronous), so how records are stored can change behind it. A caller that runs several steps of one
case in order passes that case's :class:`~shared.respond.actions.CaseJournal`: the records are then read once,
and each step's outcome is written in one transaction with the next step's intent (never the other way round:
an intent is stored before the step acts). The caller flushes the journal when its steps end.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.errors import TokenwardenError
from shared.ledger.pool import in_ledger_thread
from shared.respond.actions import FINAL_PHASES, ActionPhase, ActionStore, CaseJournal
from shared.respond.steps.base import ResponseStep, Resume, StepCall, StepOutcome

__all__ = ["DRY_RUN_REASON", "StepRecorder"]

DRY_RUN_REASON = "dry run: nothing was changed"


@dataclass(frozen=True, kw_only=True)
class StepRecorder:
    store: ActionStore
    mode: str
    """The response mode each record is written under; ``dry-run`` plans instead of acting."""
    invocation_id: str
    actor: str
    guard: Callable[[str], Awaitable[None]] | None = None
    """Awaited with the case id right before each intent (so before each tenant write); raises to stop."""

    def record(self, case_id: str, step: str, target: str, phase: ActionPhase, detail: Mapping[str, Any],
               now: datetime, journal: CaseJournal | None = None, *, hold: bool = False) -> StepOutcome:
        """Write one phase of one action (blocking: call it from a worker thread inside a run); through *journal*
        when given, where an outcome may be *held* to travel with the case's next record."""
        if journal is not None:
            stored = journal.record(step, target, phase=phase, mode=self.mode, invocation_id=self.invocation_id,
                                    detail=detail, now=now, actor=self.actor, hold=hold)
        else:
            stored = self.store.record(case_id, step, target, phase=phase, mode=self.mode,
                                       invocation_id=self.invocation_id, detail=detail, now=now, actor=self.actor)
        return StepOutcome(step=step, target=target, phase=stored.phase, detail=stored.detail)

    def journal(self, case_id: str) -> CaseJournal:
        """A journal for running several of *case_id*'s steps in order (flush it when they end)."""
        return self.store.journal(case_id)

    async def run(self, step: ResponseStep, call: StepCall, *, plan: Mapping[str, Any],
                  now: datetime, journal: CaseJournal | None = None) -> StepOutcome:
        """Run *step* on ``call.target`` under the sequence above; *plan* is what the intent (or plan) records."""
        case_id, target = call.case_id, call.target

        async def record(phase: ActionPhase, detail: Mapping[str, Any], *, hold: bool = False) -> StepOutcome:
            return await in_ledger_thread(self.record, case_id, step.name, target, phase, detail, now, journal,
                                          hold=hold)

        if journal is not None:
            existing = await in_ledger_thread(journal.get, step.name, target)
        else:
            existing = await in_ledger_thread(self.store.get, case_id, step.name, target)
        if existing is not None and existing.phase in FINAL_PHASES:
            return StepOutcome(step=step.name, target=target, phase=existing.phase, detail=existing.detail,
                               replayed=True)
        blocked = step.unavailable(call)
        if blocked is not None:
            phase, why = blocked
            return await record(phase, {"reason" if phase == "skipped" else "error": why})
        if self.mode == "dry-run":
            return await record("planned", {**plan, "reason": DRY_RUN_REASON})
        if self.guard is not None:
            await self.guard(case_id)
        resume = Resume(resumed=existing is not None and existing.phase == "intent",
                        since=existing.updated_at if existing is not None else now)
        await record("intent", step.intent_detail(plan, resume))
        try:
            detail = await step.act(call, resume)
        except TokenwardenError as exc:
            return await record("failed", {"error": str(exc)}, hold=True)
        return await record("succeeded", detail, hold=True)
