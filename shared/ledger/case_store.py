"""The ``Cases`` table: cases, the principal records that point at each principal's open case, and
UPN aliases.

Three kinds of entity share the table, one partition each:

- ``case``/<case id>: the case (state, severity, times, finding references, transitions).
- ``principal``/<hash of the principal>: its generation and the id of its open case, if any. Opening
  a case is an insert or an ETag-guarded update of this record, and the case id is derived from the
  principal and generation (:func:`shared.cases.principal.case_id`), so scans racing on one principal
  all land on the same case. When a case closes the record is released, and the next detection opens
  generation + 1: a new case, never a reopened one.
- ``alias``/<hash of a UPN>: the user object id a UPN belonged to on a finding that carried both, so a
  UPN-only finding (the OfficeActivity mail rule's) joins that user's case. The remaining race: a
  UPN-only finding stored before any finding has tied its UPN to an object id opens a case of its own
  (by UPN); later findings with the object id open the user's case, and the two are not merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from shared.cases.merge import CaseDelta, Sighting, absorb, new_case
from shared.cases.model import (
    AS_CONFIGURED,
    CASE_STATES,
    WORK_ATTEMPTS,
    Case,
    CaseState,
    Transition,
    WorkRequest,
    higher_severity,
    retry_delay,
    transition,
)
from shared.cases.principal import Principal, PrincipalKind, case_id
from shared.core.errors import DataError
from shared.detect.ruleset import Severity
from shared.ledger.codec import clip, dump_json, format_time, load_json, parse_time
from shared.ledger.lease import LEASE_CLEARED
from shared.ledger.optimistic import StoredEntity, read_entity, read_modify_write

if TYPE_CHECKING:
    from azure.data.tables import TableClient

    from shared.ledger.lease import CaseLease

__all__ = ["MAX_TRANSITIONS", "AttachResult", "CaseStore", "FailedPass", "StaleMark"]

MAX_TRANSITIONS = 40
"""Transitions kept inline: the first (the opening) and the latest 39; ``TransitionsDropped`` counts the rest."""
_MAX_REASON_CHARS = 300
_CASE, _PRINCIPAL, _ALIAS = "case", "principal", "alias"
_NO_WORK = {"WorkWanted": "", "WorkMode": "", "WorkActor": "", "WorkRun": "", "WorkApprovedBy": "",
            "WorkAttempts": 0, "WorkRetryAt": ""}
"""The outbox mark, what its request asked, and its failed passes, cleared together."""


@dataclass(frozen=True, kw_only=True)
class StaleMark:
    """A case whose outbox mark went stale, and what the request that set the mark asked for."""

    case_id: str
    request: WorkRequest


@dataclass(frozen=True, kw_only=True)
class FailedPass:
    """What the outbox did with a mark after a respond pass that ended with the case ``failed``."""

    attempts: int
    """Failed passes on this mark so far (0: the mark was not the one the pass started from; nothing counted)."""
    retry_at: datetime | None
    """When the scan timer may re-queue it; None when it gave up (:data:`WORK_ATTEMPTS` reached) or counted nothing."""

    @property
    def gave_up(self) -> bool:
        return self.attempts >= WORK_ATTEMPTS


@dataclass(frozen=True, kw_only=True)
class AttachResult:
    case: Case
    created: bool
    delta: CaseDelta


def _transition_json(item: Transition) -> dict[str, Any]:
    return {"at": format_time(item.at), "from": item.from_state, "to": item.to_state,
            "reason": clip(item.reason, _MAX_REASON_CHARS)}


def _case_entity(case: Case) -> dict[str, Any]:
    kept = case.transitions
    dropped = case.transitions_dropped
    if len(kept) > MAX_TRANSITIONS:
        dropped += len(kept) - MAX_TRANSITIONS
        kept = (kept[0], *kept[-(MAX_TRANSITIONS - 1):])
    return {
        "PrincipalKind": case.principal.kind,
        "PrincipalValue": clip(case.principal.value),
        "Generation": case.generation,
        "State": case.state,
        "Severity": case.severity,
        "FirstSeen": format_time(case.first_seen),
        "LastSeen": format_time(case.last_seen),
        "CreatedAt": format_time(case.created_at),
        "UpdatedAt": format_time(case.updated_at),
        "RuleIds": dump_json(list(case.rule_ids), "rule ids"),
        "FindingRefs": dump_json(list(case.finding_refs), "finding references"),
        "FindingCount": len(case.finding_refs),
        "MoreFindings": case.more_findings,
        "TokenIds": dump_json([clip(t, 256) for t in case.token_ids], "token ids"),
        "UserUpns": dump_json([clip(u, 256) for u in case.user_upns], "user UPNs"),
        "Transitions": dump_json([_transition_json(t) for t in kept], "transitions"),
        "TransitionsDropped": dropped,
        "Enrichment": dump_json(case.enrichment, "enrichment") if case.enrichment is not None else "",
        "Decision": dump_json(case.decision, "decision") if case.decision is not None else "",
        "SentinelIncident": case.sentinel_incident or "",
        "WorkWanted": format_time(case.work_wanted) if case.work_wanted is not None else "",
        **_work_request_properties(case.work_request if case.work_wanted is not None else AS_CONFIGURED),
        "WorkAttempts": case.work_attempts,
        "WorkRetryAt": format_time(case.work_retry_at) if case.work_retry_at is not None else "",
    }


def _work_request_properties(request: WorkRequest) -> dict[str, str]:
    # 200: what a respond message carries (shared.respond.work_queue), so a re-queue can carry them again.
    return {"WorkMode": clip(request.mode or "", 200), "WorkActor": clip(request.actor or "", 200),
            "WorkRun": clip(request.run or "", 200), "WorkApprovedBy": clip(request.approved_by or "", 200)}


def _work_request(properties: Mapping[str, Any]) -> WorkRequest:
    return WorkRequest(mode=str(properties.get("WorkMode") or "") or None,
                       actor=str(properties.get("WorkActor") or "") or None,
                       run=str(properties.get("WorkRun") or "") or None,
                       approved_by=str(properties.get("WorkApprovedBy") or "") or None)


def _retry_at(properties: Mapping[str, Any]) -> datetime | None:
    raw = properties.get("WorkRetryAt")
    return parse_time(raw, "WorkRetryAt") if raw else None


def _strings(properties: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = load_json(properties.get(name), name)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _state(value: object) -> CaseState:
    if value not in CASE_STATES:
        raise DataError(f"stored case state {value!r} is not one of {', '.join(CASE_STATES)}")
    return value


def _case_from(case_id_: str, properties: Mapping[str, Any]) -> Case:
    raw = load_json(properties.get("Transitions"), "Transitions") or []
    transitions = tuple(
        Transition(at=parse_time(t["at"], "transition time"),
                   from_state=None if t.get("from") is None else _state(t["from"]),
                   to_state=_state(t["to"]), reason=str(t.get("reason", "")))
        for t in raw
    )
    return Case(
        case_id=case_id_,
        principal=Principal(cast(PrincipalKind, properties["PrincipalKind"]), str(properties["PrincipalValue"])),
        generation=int(properties["Generation"]),
        state=_state(properties["State"]),
        severity=cast(Severity, properties["Severity"]),
        first_seen=parse_time(properties["FirstSeen"], "FirstSeen"),
        last_seen=parse_time(properties["LastSeen"], "LastSeen"),
        created_at=parse_time(properties["CreatedAt"], "CreatedAt"),
        updated_at=parse_time(properties["UpdatedAt"], "UpdatedAt"),
        rule_ids=_strings(properties, "RuleIds"),
        finding_refs=_strings(properties, "FindingRefs"),
        more_findings=bool(properties.get("MoreFindings", False)),
        token_ids=_strings(properties, "TokenIds"),
        user_upns=_strings(properties, "UserUpns"),
        transitions=transitions,
        transitions_dropped=int(properties.get("TransitionsDropped", 0)),
        enrichment=load_json(properties.get("Enrichment") or None, "Enrichment"),
        decision=load_json(properties.get("Decision") or None, "Decision"),
        sentinel_incident=str(properties.get("SentinelIncident") or "") or None,
        work_wanted=parse_time(properties["WorkWanted"], "WorkWanted") if properties.get("WorkWanted") else None,
        work_request=_work_request(properties),
        work_attempts=int(properties.get("WorkAttempts") or 0),
        work_retry_at=_retry_at(properties),
    )


@dataclass(frozen=True)
class CaseStore:
    table: TableClient

    # -- principals and aliases -------------------------------------------------------------------

    def open_case_for(self, principal: Principal, *, now: datetime) -> tuple[str, int]:
        """(case id, generation) of *principal*'s open case, reserving the next generation if it has none."""
        chosen: list[tuple[str, int]] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            chosen.clear()
            if stored is not None and stored.properties.get("OpenCaseId"):
                chosen.append((str(stored.properties["OpenCaseId"]), int(stored.properties["Generation"])))
                return None
            generation = 1 if stored is None else int(stored.properties["Generation"]) + 1
            chosen.append((case_id(principal, generation), generation))
            return {"Kind": principal.kind, "Value": clip(principal.value), "Generation": generation,
                    "OpenCaseId": chosen[0][0], "UpdatedAt": format_time(now)}

        read_modify_write(self.table, _PRINCIPAL, principal.digest(), decide, what=f"principal {principal.key}")
        return chosen[0]

    def release(self, principal: Principal, closed_case_id: str, *, now: datetime) -> None:
        """Forget *closed_case_id* as *principal*'s open case (if it still is), so detection opens a new one."""

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is None or stored.properties.get("OpenCaseId") != closed_case_id:
                return None
            return {"OpenCaseId": "", "UpdatedAt": format_time(now)}

        read_modify_write(self.table, _PRINCIPAL, principal.digest(), decide, what=f"principal {principal.key}")

    def record_alias(self, upn: Principal, user: Principal, *, now: datetime) -> None:
        """Remember that *upn* is *user*; the first object id seen for a UPN is kept."""

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is not None:
                return None
            return {"Upn": clip(upn.value), "PrincipalKind": user.kind, "PrincipalValue": clip(user.value),
                    "CreatedAt": format_time(now)}

        read_modify_write(self.table, _ALIAS, upn.digest(), decide, what=f"alias {upn.key}")

    def resolve_alias(self, upn: Principal) -> Principal | None:
        stored = read_entity(self.table, _ALIAS, upn.digest())
        if stored is None:
            return None
        return Principal(cast(PrincipalKind, stored.properties["PrincipalKind"]),
                         str(stored.properties["PrincipalValue"]))

    def upns_for(self, user: Principal) -> list[str]:
        """Every UPN the ledger has seen for *user* (an object id): the aliases that point at it."""
        entities = self.table.query_entities(
            "PartitionKey eq @pk and PrincipalKind eq @kind and PrincipalValue eq @value",
            parameters={"pk": _ALIAS, "kind": user.kind, "value": clip(user.value)}, select=["Upn"])
        return sorted({str(e["Upn"]).lower() for e in entities if e.get("Upn")})

    # -- cases ------------------------------------------------------------------------------------

    def attach(self, case_id_: str, principal: Principal, generation: int, sightings: Sequence[Sighting], *,
               now: datetime, work: WorkRequest = AS_CONFIGURED) -> AttachResult | None:
        """Open *case_id_* with *sightings*, or add them to it; None if the case is closed meanwhile.

        *work* is what the recording request asks of the respond worker; it is written with the outbox mark.
        """
        result: list[AttachResult] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            result.clear()
            if stored is None:
                case = replace(new_case(case_id=case_id_, principal=principal, generation=generation,
                                        sightings_=sightings, at=now), work_wanted=now, work_request=work,
                               work_attempts=0, work_retry_at=None)
                delta = CaseDelta(refs_added=len(case.finding_refs), severity_raised=False, changed=True)
                result.append(AttachResult(case=case, created=True, delta=delta))
                return _case_entity(case)
            current = _case_from(case_id_, stored.properties)
            if not current.is_open:
                return None
            updated, delta = absorb(current, sightings, at=now)
            if delta.refs_added or delta.severity_raised:  # the outbox mark, in the write that records the change
                # New work: its own request and a fresh retry budget (an approval never covers findings it did
                # not see; a case that gave up is tried again for new evidence).
                updated = replace(updated, work_wanted=now, work_request=work, work_attempts=0, work_retry_at=None)
            result.append(AttachResult(case=updated, created=False, delta=delta))
            return _case_entity(updated) if delta.changed else None

        read_modify_write(self.table, _CASE, case_id_, decide, what=f"case {case_id_}")
        return result[0] if result else None

    def clear_work_wanted(self, case_id_: str, seen: datetime | None) -> bool:
        """Clear the outbox mark if it is still the one a finished respond pass started from (*seen*).

        A mark set meanwhile (new findings arrived while the pass ran) is newer and stays, so that work is
        queued again rather than lost. Returns whether the mark was cleared.
        """
        cleared: list[bool] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            cleared.clear()
            mark = str(stored.properties.get("WorkWanted") or "") if stored is not None else ""
            if not mark or seen is None or mark != format_time(seen):
                return None
            cleared.append(True)
            return _NO_WORK

        read_modify_write(self.table, _CASE, case_id_, decide, what=f"case {case_id_}")
        return bool(cleared)

    def want_work(self, case_id_: str, work: WorkRequest, *, now: datetime) -> Case:
        """Set a fresh outbox mark carrying *work* on an open case that records no new finding: an approval (so
        an approved response that dies or fails is resumed as approved) or an operator's ``POST /respond`` of a
        case it already knows (a resume, with a fresh retry budget). Written before the work starts, like an
        action's intent."""
        saved: list[Case] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is None:
                raise DataError(f"there is no case {case_id_}")
            case = _case_from(case_id_, stored.properties)
            if not case.is_open:
                saved[:] = [case]
                return None
            saved[:] = [replace(case, work_wanted=now, work_request=work, work_attempts=0, work_retry_at=None)]
            return {"WorkWanted": format_time(now), **_work_request_properties(work), "WorkAttempts": 0,
                    "WorkRetryAt": ""}

        read_modify_write(self.table, _CASE, case_id_, decide, what=f"case {case_id_}")
        return saved[0]

    def retry_later(self, case_id_: str, seen: datetime | None, *, now: datetime) -> FailedPass:
        """Count a respond pass that ended with the case ``failed`` against the mark it started from (*seen*).

        Below :data:`WORK_ATTEMPTS` the mark stays, with a time before which the scan timer will not re-queue it
        (:func:`retry_delay`); at it, the mark is cleared (the case stays ``failed``, its failed passes kept) so it
        is no longer re-queued. A mark set meanwhile (new findings) is newer: it is left alone, with its own
        budget.
        """
        outcome: list[FailedPass] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            outcome[:] = [FailedPass(attempts=0, retry_at=None)]
            mark = str(stored.properties.get("WorkWanted") or "") if stored is not None else ""
            if stored is None or not mark or seen is None or mark != format_time(seen):
                return None
            attempts = int(stored.properties.get("WorkAttempts") or 0) + 1
            if attempts >= WORK_ATTEMPTS:
                outcome[:] = [FailedPass(attempts=attempts, retry_at=None)]
                return {**_NO_WORK, "WorkAttempts": attempts}
            retry_at = now + retry_delay(attempts)
            outcome[:] = [FailedPass(attempts=attempts, retry_at=retry_at)]
            return {"WorkAttempts": attempts, "WorkRetryAt": format_time(retry_at)}

        read_modify_write(self.table, _CASE, case_id_, decide, what=f"case {case_id_}")
        return outcome[0]

    def wanting_work(self, *, marked_before: datetime, now: datetime) -> list[StaleMark]:
        """Cases whose outbox mark is older than *marked_before*, whose retry wait (after a failed pass) is over at
        *now*, and that no invocation holds (live lease at *now*), each with what the request that set the mark
        asked for.

        The mark is a fixed-width UTC time, so the filter compares it as a string.
        """
        from shared.ledger.lease import lease_holder

        entities = self.table.query_entities(
            "PartitionKey eq @pk and WorkWanted ne @empty and WorkWanted le @cutoff",
            parameters={"pk": _CASE, "empty": "", "cutoff": format_time(marked_before)},
            select=["RowKey", "State", "LeaseOwner", "LeaseUntil", "WorkMode", "WorkActor", "WorkRun",
                    "WorkApprovedBy", "WorkRetryAt"])
        marks = [StaleMark(case_id=str(e["RowKey"]), request=_work_request(e)) for e in entities
                 if e.get("State") != "closed" and lease_holder(e, now) is None
                 and ((retry_at := _retry_at(e)) is None or retry_at <= now)]
        return sorted(marks, key=lambda mark: mark.case_id)

    def get(self, case_id_: str) -> Case | None:
        stored = read_entity(self.table, _CASE, case_id_)
        return None if stored is None else _case_from(case_id_, stored.properties)

    @staticmethod
    def held(lease: CaseLease) -> Case | None:
        """The case as its lease holder last read or wrote it (no round trip); None if it saw no case."""
        return None if lease.seen is None else _case_from(lease.case_id, lease.seen.properties)

    def cases(self, *, open_only: bool = False) -> list[Case]:
        query = "PartitionKey eq @pk" + (" and State ne @closed" if open_only else "")
        entities = self.table.query_entities(query, parameters={"pk": _CASE, "closed": "closed"})
        return [_case_from(str(e["RowKey"]), e) for e in entities]

    def record_triage(self, case_id_: str, *, enrichment: Mapping[str, Any], decision: Mapping[str, Any],
                      severity: Severity, reason: str, at: datetime) -> Case:
        """Store the enrichment and decision, raise the severity if the policy says so, move ``new`` to ``enriched``.

        A case already past ``new`` keeps its state: re-triage after new findings updates the facts only.
        """
        saved: list[Case] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is None:
                raise DataError(f"there is no case {case_id_}")
            case = _case_from(case_id_, stored.properties)
            case = replace(case, enrichment=dict(enrichment), decision=dict(decision),
                           severity=higher_severity(case.severity, severity), updated_at=max(case.updated_at, at))
            if case.state == "new":
                case = transition(case, "enriched", reason=reason, at=at)
            saved[:] = [case]
            return _case_entity(case)

        read_modify_write(self.table, _CASE, case_id_, decide, what=f"case {case_id_}")
        return saved[0]

    def link_incident(self, case_id_: str, incident_name: str, *, at: datetime) -> Case:
        """Report this case to an existing Sentinel incident (the one it came from) from now on."""
        saved: list[Case] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is None:
                raise DataError(f"there is no case {case_id_}")
            case = _case_from(case_id_, stored.properties)
            if case.sentinel_incident == incident_name:
                saved[:] = [case]
                return None
            saved[:] = [replace(case, sentinel_incident=incident_name, updated_at=max(case.updated_at, at))]
            return _case_entity(saved[0])

        read_modify_write(self.table, _CASE, case_id_, decide, what=f"case {case_id_}")
        return saved[0]

    def transition(self, case_id_: str, to_state: CaseState, *, reason: str, at: datetime,
                   holder: CaseLease | None = None, release: bool = False) -> Case:
        """Move the case to *to_state*, recording why; closing it also frees its principal for a new case.

        *holder*: the caller's lease on the case. The write then starts from the version the holder last saw
        (no read when it is current) and tells the holder what it wrote; *release* frees the lease in the same
        write when it is still the holder's, so a run's last transition and its release are one round trip.
        """
        moved: list[Case] = []

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is None:
                raise DataError(f"there is no case {case_id_}")
            moved[:] = [transition(_case_from(case_id_, stored.properties), to_state, reason=reason, at=at)]
            if to_state == "closed":  # a closed case wants no more work
                moved[:] = [replace(moved[0], work_wanted=None, work_request=AS_CONFIGURED, work_retry_at=None)]
            ours = holder is not None and str(stored.properties.get("LeaseOwner") or "") == holder.owner
            return {**_case_entity(moved[0]), **(LEASE_CLEARED if release and ours else {})}

        known = holder.seen if holder is not None and holder.case_id == case_id_ else None
        result = read_modify_write(self.table, _CASE, case_id_, decide, what=f"case {case_id_}", known=known)
        if holder is not None and holder.case_id == case_id_:
            if release:
                holder.released()
            elif result.stored is not None:
                holder.confirmed(result.stored, on_seen=result.reads == 0)
        if to_state == "closed":
            self.release(moved[0].principal, case_id_, now=at)
        return moved[0]
