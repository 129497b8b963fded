"""The Actions table: every response step's intent before it acts and its outcome after, under a deterministic id.

The id is a hash of case id, step and target, so a replayed or resumed run
finds the record of the same action instead of creating another; a step whose
record says ``succeeded`` is skipped, and one left at ``intent`` (the process
died between acting and recording) is re-checked against the target's state
before it acts again. Every record is also logged, with the case id, action id
and invocation id, for App Insights.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from shared.ledger.codec import dump_json, format_time, load_json, parse_time
from shared.ledger.optimistic import ABSENT, StoredEntity, read_entity, read_modify_write

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["ActionPhase", "ActionRecord", "ActionStore", "CaseJournal", "action_id"]

ActionPhase = Literal["planned", "intent", "succeeded", "skipped", "refused", "failed"]
FINAL_PHASES: frozenset[ActionPhase] = frozenset({"succeeded", "skipped"})
"""Phases a replay never redoes. ``refused`` and ``failed`` are retried when the run is approved or resumed."""

audit_log = logging.getLogger("tokenwarden.audit")


def action_id(case_id: str, step: str, target: str) -> str:
    digest = hashlib.sha256("\x1f".join((case_id, step, target.lower())).encode("utf-8")).hexdigest()
    return f"act-{digest[:32]}"


@dataclass(frozen=True, kw_only=True)
class ActionRecord:
    case_id: str
    action_id: str
    step: str
    target: str
    phase: ActionPhase
    mode: str
    invocation_id: str
    actor: str
    detail: Mapping[str, Any]
    updated_at: datetime
    attempts: int

    def to_json(self) -> dict[str, Any]:
        return {"case_id": self.case_id, "action_id": self.action_id, "step": self.step, "target": self.target,
                "phase": self.phase, "mode": self.mode, "invocation_id": self.invocation_id, "actor": self.actor,
                "detail": dict(self.detail), "updated_at": format_time(self.updated_at), "attempts": self.attempts}


def _record(case_id: str, row_key: str, properties: Mapping[str, Any]) -> ActionRecord:
    phase = properties.get("Phase")
    if phase not in get_args(ActionPhase):
        phase = "failed"
    detail = load_json(properties.get("Detail") or None, "Detail")
    return ActionRecord(
        case_id=case_id, action_id=row_key, step=str(properties.get("Step", "")),
        target=str(properties.get("Target", "")), phase=cast(ActionPhase, phase), mode=str(properties.get("Mode", "")),
        invocation_id=str(properties.get("InvocationId", "")), actor=str(properties.get("Actor", "")),
        detail=detail if isinstance(detail, dict) else {}, updated_at=parse_time(properties["UpdatedAt"], "UpdatedAt"),
        attempts=int(properties.get("Attempts", 0)),
    )


@dataclass(frozen=True, kw_only=True)
class _Write:
    """One phase of one action, to be written: what :meth:`ActionStore.record` and a :class:`CaseJournal` store."""

    case_id: str
    step: str
    target: str
    phase: ActionPhase
    mode: str
    invocation_id: str
    actor: str
    detail: Mapping[str, Any]
    now: datetime

    @property
    def row_key(self) -> str:
        return action_id(self.case_id, self.step, self.target)

    def decide(self, stored: StoredEntity | None) -> Mapping[str, Any] | None:
        """The properties to write over *stored*; None where the stored phase must stay: a final phase (a
        replay's intent), or an intent a plan would otherwise hide."""
        if stored is not None and stored.properties.get("Phase") in FINAL_PHASES and self.phase not in FINAL_PHASES:
            return None
        if stored is not None and stored.properties.get("Phase") == "intent" and self.phase == "planned":
            # An intent without an outcome may have reached the tenant; a plan written over it would hide that
            # from the next run, which then re-sends without reading the target back first.
            return None
        attempts = int(stored.properties.get("Attempts", 0)) if stored else 0
        return {"Step": self.step, "Target": self.target, "Phase": self.phase, "Mode": self.mode,
                "InvocationId": self.invocation_id, "Actor": self.actor,
                "Detail": dump_json(dict(self.detail), "action detail"), "UpdatedAt": format_time(self.now),
                "Attempts": attempts + (1 if self.phase == "intent" else 0)}


@dataclass(frozen=True)
class ActionStore:
    table: TableClient
    on_record: Callable[[ActionRecord], None] | None = None
    """Called with each record this store wrote (an audit sink); a replay that wrote nothing sends nothing.
    It must not block; an exception from it is logged and never fails the recording."""

    def get(self, case_id: str, step: str, target: str) -> ActionRecord | None:
        row_key = action_id(case_id, step, target)
        stored = read_entity(self.table, case_id, row_key)
        return None if stored is None else _record(case_id, row_key, stored.properties)

    def record(self, case_id: str, step: str, target: str, *, phase: ActionPhase, mode: str, invocation_id: str,
               detail: Mapping[str, Any], now: datetime, actor: str = "tokenwarden") -> ActionRecord:
        """Write *phase* for the action; a final phase is never overwritten by a later replay's intent."""
        return self._apply(_Write(case_id=case_id, step=step, target=target, phase=phase, mode=mode,
                                  invocation_id=invocation_id, actor=actor, detail=detail, now=now))[0]

    def _apply(self, write: _Write, known: StoredEntity | None = None) -> tuple[ActionRecord, StoredEntity | None]:
        """Write one phase under read-modify-write (from *known* when the caller holds the row); the record as it
        now stands, and the row with its new ETag."""
        result = read_modify_write(self.table, write.case_id, write.row_key, write.decide,
                                   what=f"action {write.row_key}", known=known)
        record = _record(write.case_id, write.row_key, result.properties)
        self._announce(record, written=result.written, invocation_id=write.invocation_id)
        return record, result.stored

    def _announce(self, record: ActionRecord, *, written: bool, invocation_id: str) -> None:
        """Log the record (App Insights) and hand a written one to the audit sink."""
        where = {"case_id": record.case_id, "action_id": record.action_id, "invocation_id": invocation_id}
        if audit_log.isEnabledFor(logging.INFO):  # the JSON costs CPU on every record; only build it to emit it
            audit_log.info("action %s", json.dumps({**record.to_json(), "written": written}, default=str),
                           extra=where)
        if self.on_record is not None and written:
            try:
                self.on_record(record)
            except Exception:
                audit_log.warning("audit sink refused action %s", record.action_id, exc_info=True, extra=where)

    def journal(self, case_id: str) -> CaseJournal:
        """One case's records for one run, read once and written in as few round trips as the rules allow."""
        return CaseJournal(store=self, case_id=case_id)

    def for_case(self, case_id: str) -> list[ActionRecord]:
        entities = self.table.query_entities("PartitionKey eq @case", parameters={"case": case_id})
        return sorted((_record(case_id, str(e["RowKey"]), e) for e in entities), key=lambda r: r.updated_at)

    def principals_actioned_since(self, since: datetime) -> set[str]:
        """Cases with an action that reached the target (intent or success) since *since*: the hourly blast radius."""
        entities = self.table.query_entities(
            "UpdatedAt ge @since and (Phase eq 'intent' or Phase eq 'succeeded')",
            parameters={"since": format_time(since)}, select=["PartitionKey"])
        return {str(e["PartitionKey"]) for e in entities}


@dataclass
class CaseJournal:
    """One case's action records for one run of its steps, in as few Table Storage round trips as the rules allow.

    - **One read.** The case's partition of the Actions table is read with one query (:meth:`load`); every later
      write starts from the row as read or last written, with its ETag, instead of reading it again.
    - **An outcome travels with the next write.** A step's outcome may be *held* (``hold=True``) and is then
      written in one entity-group transaction with the next record of the same case (the next step's intent):
      the rows share the case's partition, and a transaction is atomic, at most 100 operations, one partition
      (https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions). Only an
      outcome is ever held, never an intent, so an intent is stored before the write it guards, as always. The
      engine calls :meth:`flush` when a case's steps end (and whatever ends them), so no outcome outlives its run
      in memory; one lost with the process leaves its step at ``intent``, which the next run reads back.
    - **Conflicts are still caught.** Each write is an ``If-Match`` update on the ETag held, or an insert of a
      row the query did not find; if another writer got there first the transaction fails as a whole (409/412),
      nothing in it is stored, and each write is then made alone under read-modify-write.
    """

    store: ActionStore
    case_id: str
    _rows: dict[str, StoredEntity] | None = field(default=None, init=False)
    _held: _Write | None = field(default=None, init=False)

    def load(self) -> None:
        """Read every record of the case (one query)."""
        entities = self.store.table.query_entities("PartitionKey eq @case", parameters={"case": self.case_id})
        self._rows = {str(e["RowKey"]): StoredEntity(
            properties={k: v for k, v in e.items() if k not in ("PartitionKey", "RowKey")},
            etag=str(e.metadata["etag"])) for e in entities}

    def get(self, step: str, target: str) -> ActionRecord | None:
        if self._rows is None:
            self.load()
        assert self._rows is not None
        row_key = action_id(self.case_id, step, target)
        stored = self._rows.get(row_key)
        return None if stored is None else _record(self.case_id, row_key, stored.properties)

    def record(self, step: str, target: str, *, phase: ActionPhase, mode: str, invocation_id: str,
               detail: Mapping[str, Any], now: datetime, actor: str = "tokenwarden",
               hold: bool = False) -> ActionRecord:
        """Write *phase* for the action (as :meth:`ActionStore.record`), together with a held outcome if any.

        *hold*: an outcome (a final or failed phase) may wait for the next write or :meth:`flush`; the record
        returned is the one that will be written.
        """
        write = _Write(case_id=self.case_id, step=step, target=target, phase=phase, mode=mode,
                       invocation_id=invocation_id, actor=actor, detail=detail, now=now)
        if hold and phase != "intent" and self._rows is not None:
            self.flush()
            known = self._rows.get(write.row_key)
            wanted = write.decide(known)
            if wanted is not None:
                self._held = write
                return _record(self.case_id, write.row_key, {**(known.properties if known else {}), **wanted})
        held, self._held = self._held, None
        if held is not None and held.row_key != write.row_key:
            together = self._transact([held, write])
            if together is not None:
                return together[-1]
        if held is not None:
            self._write(held)
        return self._write(write)

    def flush(self) -> None:
        """Write the held outcome, if any (alone)."""
        held, self._held = self._held, None
        if held is not None:
            self._write(held)

    def _write(self, write: _Write) -> ActionRecord:
        known = None if self._rows is None else self._rows.get(write.row_key, ABSENT)
        record, stored = self.store._apply(write, known=known)
        if self._rows is not None and stored is not None:
            self._rows[write.row_key] = stored
        return record

    def _transact(self, writes: list[_Write]) -> list[ActionRecord] | None:
        """Every write in one entity-group transaction; None (and nothing stored) when that cannot be done blind:
        the rows were not read, a write would be decided differently on a fresh read, or the service refused."""
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError, UpdateMode

        if self._rows is None:
            return None
        operations: list[Any] = []
        merged: list[dict[str, Any]] = []
        for write in writes:
            known = self._rows.get(write.row_key)
            wanted = write.decide(known)
            if wanted is None:
                return None
            entity = {**wanted, "PartitionKey": self.case_id, "RowKey": write.row_key}
            merged.append({**(known.properties if known else {}), **wanted})
            operations.append(("create", entity) if known is None else (
                "update", entity, {"mode": UpdateMode.MERGE, "etag": known.etag,
                                   "match_condition": MatchConditions.IfNotModified}))
        try:
            answers = self.store.table.submit_transaction(operations)
        except TableTransactionError:
            self._rows = None  # another writer got there first: forget what was read, each write reads again
            return None
        records = []
        for write, properties, answer in zip(writes, merged, answers, strict=True):
            self._rows[write.row_key] = StoredEntity(properties=properties, etag=str(answer.get("etag") or ""))
            record = _record(self.case_id, write.row_key, properties)
            self.store._announce(record, written=True, invocation_id=write.invocation_id)
            records.append(record)
        return records
