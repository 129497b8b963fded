"""Names of the storage tables, queues, containers and event types Tokenwarden uses.

Bicep creates exactly these (a test compares them), so renaming one here
without renaming it in ``infra/`` fails the build rather than a deployment.
"""

from __future__ import annotations

__all__ = [
    "BLOB_CONTAINER_SIGNING_KEYS",
    "EVENT_TYPE_MONITOR_ALERT",
    "EVENT_TYPE_TOKEN_ANOMALY",
    "EVENT_TYPE_UNTRUSTED_KEYS",
    "INBOUND_EVENT_TYPES",
    "OUTBOUND_EVENT_TYPES",
    "QUEUE_RESPOND",
    "STORAGE_TABLES",
    "TABLE_ACTIONS",
    "TABLE_CASES",
    "TABLE_CHECKPOINTS",
    "TABLE_FINDINGS",
    "TABLE_KEY_SNAPSHOTS",
    "UNTRUSTED_KEYS_BLOB",
]

TABLE_CASES = "Cases"
TABLE_FINDINGS = "Findings"
TABLE_CHECKPOINTS = "Checkpoints"
TABLE_ACTIONS = "Actions"
TABLE_KEY_SNAPSHOTS = "KeySnapshots"
STORAGE_TABLES = (TABLE_CASES, TABLE_FINDINGS, TABLE_CHECKPOINTS, TABLE_ACTIONS, TABLE_KEY_SNAPSHOTS)

QUEUE_RESPOND = "tokenwarden-respond"
"""One message per case that needs enrichment and response; the host adds ``-poison``."""

BLOB_CONTAINER_SIGNING_KEYS = "signing-keys"
UNTRUSTED_KEYS_BLOB = "untrusted-keys.json"
"""The current untrusted-key list, for apps that poll instead of subscribing."""

EVENT_TYPE_UNTRUSTED_KEYS = "Tokenwarden.SigningKeys.Untrusted"
"""On the outbound Event Grid topic: published by Tokenwarden, subscribed to by apps."""
EVENT_TYPE_TOKEN_ANOMALY = "Tokenwarden.TokenAnomaly"  # noqa: S105 - an event type, not a secret
"""On the inbound topic: sent by apps' token-validation middleware, delivered to the ``events`` function."""
EVENT_TYPE_MONITOR_ALERT = "Tokenwarden.MonitorAlert"
"""On the inbound topic: an Azure Monitor alert (common alert schema), relayed; delivered to ``events``."""
OUTBOUND_EVENT_TYPES = (EVENT_TYPE_UNTRUSTED_KEYS,)
"""What the outbound topic (``EVENT_GRID_TOPIC_ENDPOINT``) carries; only Tokenwarden may send to it."""
INBOUND_EVENT_TYPES = (EVENT_TYPE_TOKEN_ANOMALY, EVENT_TYPE_MONITOR_ALERT)
"""What the inbound topic carries, and what the ``events`` function's subscription to it delivers
(``infra/postdeploy.bicep``); only the principals in ``eventPublisherPrincipalIds`` may send to it."""
