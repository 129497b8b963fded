"""Event Grid dispatch input: Key Vault key events, relayed Azure Monitor alerts and app-reported token
anomalies, parsed from either delivery schema into typed values (see :mod:`shared.events.parse`)."""

from shared.events.parse import (
    ANOMALY_RULE_ID,
    EVENT_TYPE_MONITOR_ALERT,
    KEY_VAULT_EVENT_TYPES,
    EventSchema,
    KeyVaultKeyEvent,
    MonitorAlert,
    ParsedEvent,
    TokenAnomaly,
    UnknownEvent,
    event_from_cloudevent,
    event_from_eventgrid,
    parse_event,
)

__all__ = [
    "ANOMALY_RULE_ID",
    "EVENT_TYPE_MONITOR_ALERT",
    "KEY_VAULT_EVENT_TYPES",
    "EventSchema",
    "KeyVaultKeyEvent",
    "MonitorAlert",
    "ParsedEvent",
    "TokenAnomaly",
    "UnknownEvent",
    "event_from_cloudevent",
    "event_from_eventgrid",
    "parse_event",
]
