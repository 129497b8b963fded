"""The ``Findings`` table: one entity per finding identity (rule and token, see
:func:`shared.cases.principal.finding_identity`), however many windows or scans report it.

PartitionKey is the rule id, RowKey a hash of the identity. A sighting is merged into what is stored
by :func:`shared.cases.merge.merge_observation`, so a re-read window changes nothing and two scans
writing the same finding at once leave one entity carrying both writers' observations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from shared.cases.merge import Observation, Sighting, bounded_union, merge_observation
from shared.cases.principal import Principal
from shared.detect.findings import Finding
from shared.detect.ruleset import Severity
from shared.ledger.codec import (
    check_key,
    clip,
    dump_json,
    evidence_json,
    format_time,
    load_json,
    parse_time,
)
from shared.ledger.optimistic import StoredEntity, read_entity, read_modify_write

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["FindingStore", "FindingWrite", "StoredFinding"]

WriteOutcome = Literal["new", "merged", "unchanged"]


@dataclass(frozen=True, kw_only=True)
class FindingWrite:
    ref: str
    outcome: WriteOutcome
    observation: Observation


@dataclass(frozen=True, kw_only=True)
class StoredFinding:
    """A finding as the ledger holds it (the fields analysts and the responder read)."""

    rule_id: str
    row_key: str
    identity: str
    case_id: str
    principal: str
    severity: str
    observation: Observation
    token_id: str
    user_upn: str
    user_object_id: str
    ip_addresses: tuple[str, ...]
    app_ids: tuple[str, ...]
    evidence: Any
    key_id: str = ""
    rule_title: str = ""
    issuer: str = ""
    tenant_id: str = ""
    source_table: str = ""
    first_arrived: datetime | None = None
    """When the finding's earliest row reached the workspace; None for findings stored before it was recorded."""
    recorded_at: datetime | None = None
    """When Tokenwarden first stored the finding: ``recorded_at - first_seen`` is the detection latency."""

    @property
    def detection_latency_seconds(self) -> float | None:
        if self.recorded_at is None:
            return None
        return max(0.0, (self.recorded_at - self.observation.first_seen).total_seconds())

    def to_finding(self) -> Finding:
        """The finding as a rule would return it, for enrichment and the incident summary."""
        return Finding(
            rule_id=self.rule_id, rule_title=self.rule_title or self.rule_id,
            severity=cast(Severity, self.severity) if self.severity in get_args(Severity) else "Medium",
            first_seen=self.observation.first_seen, last_seen=self.observation.last_seen,
            count=self.observation.count, user_upn=self.user_upn or None, user_object_id=self.user_object_id or None,
            app_id=self.app_ids[0] if self.app_ids else None,
            ip_address=self.ip_addresses[0] if self.ip_addresses else None, key_id=self.key_id or None,
            token_id=self.token_id or None, issuer=self.issuer or None, tenant_id=self.tenant_id or None,
            source_table=self.source_table, evidence=self.evidence if isinstance(self.evidence, dict) else {},
            first_arrived=self.first_arrived,
        )


def _observation(properties: Mapping[str, Any]) -> Observation:
    return Observation(first_seen=parse_time(properties["FirstSeen"], "FirstSeen"),
                       last_seen=parse_time(properties["LastSeen"], "LastSeen"),
                       count=int(properties["Count"]))


def _list(properties: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = load_json(properties.get(name), name)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True)
class FindingStore:
    table: TableClient

    def record(self, sighting: Sighting, *, case_id: str, principal: Principal, now: datetime) -> FindingWrite:
        """Store *sighting* under its identity, merged with what is there; attach it to *case_id*."""
        identity = sighting.identity
        outcome: list[WriteOutcome] = ["unchanged"]
        merged_observation = [sighting.observation]

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is None:
                outcome[0], merged_observation[0] = "new", sighting.observation
                return self._new_entity(sighting, case_id=case_id, principal=principal, now=now)
            before = _observation(stored.properties)
            after = merge_observation(before, sighting.observation)
            ips = bounded_union(_list(stored.properties, "IpAddresses"), sighting.ip_addresses)
            apps = bounded_union(_list(stored.properties, "AppIds"), sighting.app_ids)
            merged_observation[0] = after
            changes: dict[str, Any] = {}
            if after != before:
                changes.update(FirstSeen=format_time(after.first_seen), LastSeen=format_time(after.last_seen),
                               Count=after.count)
                if sighting.observation.last_seen > before.last_seen:
                    changes["Evidence"] = evidence_json(sighting.finding.to_json()["evidence"])
            if ips != _list(stored.properties, "IpAddresses"):
                changes["IpAddresses"] = dump_json(list(ips), "ip addresses")
            if apps != _list(stored.properties, "AppIds"):
                changes["AppIds"] = dump_json(list(apps), "app ids")
            if stored.properties.get("CaseId") != case_id:
                changes.update(CaseId=case_id, Principal=clip(principal.key))
            if not changes:
                outcome[0] = "unchanged"
                return None
            outcome[0] = "merged"
            changes["UpdatedAt"] = format_time(now)
            changes["Observations"] = int(stored.properties.get("Observations", 1)) + 1
            return changes

        read_modify_write(self.table, check_key(identity.rule_id, "rule id"), identity.row_key, decide,
                          what=f"finding {identity.ref}")
        return FindingWrite(ref=identity.ref, outcome=outcome[0], observation=merged_observation[0])

    @staticmethod
    def _new_entity(sighting: Sighting, *, case_id: str, principal: Principal, now: datetime) -> dict[str, Any]:
        finding = sighting.finding
        observation = sighting.observation
        return {
            "Identity": clip(sighting.identity.text),
            "RuleId": finding.rule_id,
            "RuleTitle": clip(finding.rule_title),
            "Severity": finding.severity,
            "FirstSeen": format_time(observation.first_seen),
            "LastSeen": format_time(observation.last_seen),
            "FirstArrived": format_time(finding.first_arrived) if finding.first_arrived is not None else "",
            "Count": observation.count,
            "UserUpn": clip(finding.user_upn),
            "UserObjectId": clip(finding.user_object_id),
            "AppId": clip(finding.app_id),
            "IpAddress": clip(finding.ip_address),
            "KeyId": clip(finding.key_id),
            "TokenId": clip(finding.token_id),
            "Issuer": clip(finding.issuer),
            "TenantId": clip(finding.tenant_id),
            "SourceTable": clip(finding.source_table),
            "Evidence": evidence_json(finding.to_json()["evidence"]),
            "IpAddresses": dump_json(list(sighting.ip_addresses), "ip addresses"),
            "AppIds": dump_json(list(sighting.app_ids), "app ids"),
            "CaseId": case_id,
            "Principal": clip(principal.key),
            "CreatedAt": format_time(now),
            "UpdatedAt": format_time(now),
            "Observations": 1,
        }

    def get(self, rule_id: str, row_key: str) -> StoredFinding | None:
        stored = read_entity(self.table, check_key(rule_id, "rule id"), check_key(row_key, "finding key"))
        return None if stored is None else _stored_finding(rule_id, row_key, stored.properties)

    def all(self) -> list[StoredFinding]:
        """Every stored finding (tests, exports); production reads by case or by rule."""
        return [_stored_finding(str(e["PartitionKey"]), str(e["RowKey"]), e) for e in self.table.list_entities()]

    def for_case(self, case_id: str) -> list[StoredFinding]:
        return [_stored_finding(str(e["PartitionKey"]), str(e["RowKey"]), e)
                for e in self.table.query_entities("CaseId eq @case", parameters={"case": case_id})]


def _stored_finding(rule_id: str, row_key: str, properties: Mapping[str, Any]) -> StoredFinding:
    return StoredFinding(
        rule_id=rule_id, row_key=row_key, identity=str(properties.get("Identity", "")),
        case_id=str(properties.get("CaseId", "")), principal=str(properties.get("Principal", "")),
        severity=str(properties.get("Severity", "")), observation=_observation(properties),
        token_id=str(properties.get("TokenId", "")), user_upn=str(properties.get("UserUpn", "")),
        user_object_id=str(properties.get("UserObjectId", "")),
        ip_addresses=_list(properties, "IpAddresses"), app_ids=_list(properties, "AppIds"),
        evidence=load_json(properties.get("Evidence"), "Evidence"),
        key_id=str(properties.get("KeyId", "") or ""), rule_title=str(properties.get("RuleTitle", "") or ""),
        issuer=str(properties.get("Issuer", "") or ""), tenant_id=str(properties.get("TenantId", "") or ""),
        source_table=str(properties.get("SourceTable", "") or ""),
        first_arrived=_optional_time(properties, "FirstArrived"),
        recorded_at=_optional_time(properties, "CreatedAt"),
    )


def _optional_time(properties: Mapping[str, Any], name: str) -> datetime | None:
    value = properties.get(name)
    return parse_time(value, name) if value else None
