"""Per-rule watermarks in the ``Checkpoints`` table: how far each rule's findings are safely stored.

A watermark only moves forward. Two scans advancing the same rule race through ETags, and the later
time wins whichever lands last, so a slow scan finishing an older chunk never moves it back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.detect.logsources.base import TimeRange
from shared.ledger.codec import check_key, format_time, parse_time
from shared.ledger.optimistic import StoredEntity, read_entity, read_modify_write

if TYPE_CHECKING:
    from azure.data.tables import TableClient

__all__ = ["CheckpointStore"]

_PARTITION = "watermark"


@dataclass(frozen=True)
class CheckpointStore:
    table: TableClient

    def watermark(self, rule_id: str) -> datetime | None:
        stored = read_entity(self.table, _PARTITION, check_key(rule_id, "rule id"))
        return parse_time(stored.properties["Watermark"], "watermark") if stored else None

    def watermarks(self) -> dict[str, datetime]:
        return {str(e["RowKey"]): parse_time(e["Watermark"], "watermark")
                for e in self.table.query_entities("PartitionKey eq @pk", parameters={"pk": _PARTITION})}

    def advance(self, rule_id: str, window: TimeRange, *, now: datetime) -> datetime:
        """Move *rule_id*'s watermark to ``window.end`` unless it is already there or later; return it."""
        target = window.end

        def decide(stored: StoredEntity | None) -> Mapping[str, Any] | None:
            if stored is not None and parse_time(stored.properties["Watermark"], "watermark") >= target:
                return None
            return {"Watermark": format_time(target), "LastWindowStart": format_time(window.start),
                    "LastWindowEnd": format_time(window.end), "UpdatedAt": format_time(now)}

        result = read_modify_write(self.table, _PARTITION, check_key(rule_id, "rule id"), decide,
                                   what=f"checkpoint of {rule_id}")
        return parse_time(result.properties.get("Watermark", format_time(target)), "watermark")

    def reset(self, rule_id: str) -> None:
        """Forget *rule_id*'s watermark: the next scan starts from ``SCAN_LOOKBACK`` again."""
        self.table.delete_entity(_PARTITION, check_key(rule_id, "rule id"))
