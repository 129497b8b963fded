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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from shared.ledger.codec import dump_json, format_time, load_json, parse_time
from shared.ledger.optimistic import StoredEntity, read_entity, read_modify_write

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["ActionPhase", "ActionRecord", "ActionStore", "action_id"]

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
        row_key = action_id(case_id, step, target)
        kept: list[ActionRecord] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is not None and stored.properties.get("Phase") in FINAL_PHASES and phase not in FINAL_PHASES:
                kept[:] = [_record(case_id, row_key, stored.properties)]
                return None
            attempts = int(stored.properties.get("Attempts", 0)) if stored else 0
            return {"Step": step, "Target": target, "Phase": phase, "Mode": mode, "InvocationId": invocation_id,
                    "Actor": actor, "Detail": dump_json(dict(detail), "action detail"),
                    "UpdatedAt": format_time(now), "Attempts": attempts + (1 if phase == "intent" else 0)}

        result = read_modify_write(self.table, case_id, row_key, decide, what=f"action {row_key}")
        record = kept[0] if kept else _record(case_id, row_key, result.properties)
        audit_log.info("action %s", json.dumps({**record.to_json(), "written": result.written}, default=str),
                       extra={"case_id": case_id, "action_id": row_key, "invocation_id": invocation_id})
        if self.on_record is not None and result.written:
            try:
                self.on_record(record)
            except Exception:
                audit_log.warning("audit sink refused action %s", row_key, exc_info=True,
                                  extra={"case_id": case_id, "action_id": row_key, "invocation_id": invocation_id})
        return record

    def for_case(self, case_id: str) -> list[ActionRecord]:
        entities = self.table.query_entities("PartitionKey eq @case", parameters={"case": case_id})
        return sorted((_record(case_id, str(e["RowKey"]), e) for e in entities), key=lambda r: r.updated_at)

    def principals_actioned_since(self, since: datetime) -> set[str]:
        """Cases with an action that reached the target (intent or success) since *since*: the hourly blast radius."""
        entities = self.table.query_entities(
            "UpdatedAt ge @since and (Phase eq 'intent' or Phase eq 'succeeded')",
            parameters={"since": format_time(since)}, select=["PartitionKey"])
        return {str(e["PartitionKey"]) for e in entities}
