"""Table Storage killed at every write of a scan and of the responses that follow, one run per write index.

Each run: a scan timer run and the respond worker's runs for what it queued, with storage dying at write
*k* (every request from then on fails, as for an unreachable account; the invocation that meets it fails as
the Functions host would see it fail). Then storage comes back and the timer runs again, each run later
than the last by more than the outbox's re-queue age, with the worker answering what each queues, until
nothing is queued. Counted afterwards:

- stranded: open cases still marked as wanting work, or still ``new`` (target 0);
- lost: findings a run without faults stores that this run did not (target 0);
- duplicated: Graph writes beyond the first per (write, user) (target 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bench.reliability.stack import Stack, duplicates, later, respond, scan_and_queue
from bench.reliability.storage_faults import StorageKiller

__all__ = ["KillRun", "clean_counts", "kill_run", "one_user_logs", "storage_kill_runs"]

RECOVERY_ROUNDS = 4
STORM_KEY_ID = "1LTMzakihiRla_8z2BEJVXeWMqo"
"""The stolen MSA key's kid: the demo plants its forged tokens for one user, whoever the generator picks."""
"""A planted attack in the demo logs (seed 3): a token signed with the Storm-0558 key as its kid."""


@dataclass(frozen=True, kw_only=True)
class KillRun:
    phase: Literal["scan", "respond", "none"]
    index: int
    stranded: int
    lost: int
    duplicated: int


@dataclass(frozen=True, kw_only=True)
class CleanCounts:
    scan_writes: int
    respond_writes: int
    findings: int


def _stranded(ledger: Any) -> int:
    from shared.ledger.case_store import CaseStore

    return sum(1 for case in CaseStore(ledger.cases).cases(open_only=True)
               if case.work_wanted is not None or case.state == "new")


def _findings(ledger: Any) -> int:
    return sum(1 for _ in ledger.findings.list_entities(select=["RowKey"]))


def _run(stack: Stack, kill_at: int) -> tuple[int, int, int]:
    """(stranded, findings stored, duplicated) of one run killed at write *kill_at*."""
    killer = StorageKiller(kill_at)
    with stack.simulator() as simulator, stack.ledger(transport=killer) as ledger:
        settings = stack.settings(simulator.url)
        worker = stack.settings(simulator.url, logs=False)  # the respond passes: no IP facts, a second each
        start = stack.scenario_start
        queued: list[str] = []
        try:
            queued = scan_and_queue(settings, ledger, now=start)
        except Exception:  # the timer invocation failed with storage: nothing was queued
            queued = []
        for case_id in queued:
            try:
                respond(worker, ledger, case_id, invocation=f"first-{case_id}", now=start, clock=lambda: start)
            except Exception:  # the worker died with storage; the re-queue below stands in for what follows
                continue
        killer.revive()
        for round_ in range(1, RECOVERY_ROUNDS + 1):
            now = later(start, round_)
            todo = scan_and_queue(settings, ledger, now=now)
            if not todo:
                break
            for case_id in todo:
                respond(worker, ledger, case_id, invocation=f"again{round_}-{case_id}", now=now,
                        clock=lambda now=now: now)  # type: ignore[misc]
        return _stranded(ledger), _findings(ledger), duplicates(simulator.state.writes)


def clean_counts(stack: Stack) -> CleanCounts:
    """Writes of a scan and of the respond runs that follow it, and findings stored, when nothing fails."""
    killer = StorageKiller(None)
    with stack.simulator() as simulator, stack.ledger(transport=killer) as ledger:
        settings = stack.settings(simulator.url)
        worker = stack.settings(simulator.url, logs=False)
        start = stack.scenario_start
        queued = scan_and_queue(settings, ledger, now=start)
        scan_writes = killer.writes
        for case_id in queued:
            respond(worker, ledger, case_id, invocation=f"first-{case_id}", now=start, clock=lambda: start)
        return CleanCounts(scan_writes=scan_writes, respond_writes=killer.writes - scan_writes,
                           findings=_findings(ledger))


def kill_run(stack: Stack, clean: CleanCounts, kill_at: int) -> KillRun:
    stranded, findings, duplicated = _run(stack, kill_at)
    phase: Literal["scan", "respond"] = "scan" if kill_at <= clean.scan_writes else "respond"
    return KillRun(phase=phase, index=kill_at, stranded=stranded, lost=max(0, clean.findings - findings),
                   duplicated=duplicated)


def storage_kill_runs(stack: Stack, *, indexes: list[int] | None = None) -> tuple[CleanCounts, list[KillRun]]:
    """One run per write index (all of them unless *indexes* names some), after a run without faults."""
    clean = clean_counts(stack)
    total = clean.scan_writes + clean.respond_writes
    chosen = indexes if indexes is not None else list(range(1, total + 1))
    return clean, [kill_run(stack, clean, k) for k in chosen if 1 <= k <= total]


def one_user_logs(source: Path, target: Path, *, key_id: str = STORM_KEY_ID) -> Path:
    """The demo logs cut down to one user's rows (the user of the planted tokens signed with *key_id*, the
    Storm-0558 key, rather than a token id the generator's choices may change): a scan that opens one case,
    small enough for ``make test`` to kill storage at every one of its writes and of its response's. Rows are
    kept when they name the user's object id or UPN; the keys and apps files are copied."""
    import json
    import shutil

    user = next(row for row in map(json.loads, (source / "TokenValidation_CL.jsonl").read_text().splitlines())
                if row.get("KeyId") == key_id)
    names = [str(user["ObjectId"]).lower(), str(user.get("Upn") or "").lower()]
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_dir():
            shutil.copytree(path, target / path.name, dirs_exist_ok=True)
        elif path.suffix == ".jsonl":
            kept = [line for line in path.read_text().splitlines() if any(n and n in line.lower() for n in names)]
            (target / path.name).write_text("".join(f"{line}\n" for line in kept))
        else:
            shutil.copy2(path, target / path.name)
    return target
