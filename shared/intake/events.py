"""The Event Grid trigger's dispatch input: one event, in either delivery schema, into a typed value.

The trigger adapter turns the ``azure.functions`` object into a neutral dict (:func:`event_from_eventgrid`,
:func:`event_from_cloudevent`; azure-functions 1.26.0 decodes a CloudEvents 1.0 body into
``func.CloudEvent`` and an Event Grid schema body into ``func.EventGridEvent``), and
:func:`parse_event` turns that dict into one of:

- :class:`KeyVaultKeyEvent` for ``Microsoft.KeyVault.KeyNewVersionCreated`` / ``KeyNearExpiry`` /
  ``KeyExpired``. Data fields are PascalCase on the wire (``Id``, ``VaultName``, ``ObjectType``,
  ``ObjectName``, ``Version``, ``NBF``, ``EXP``; the times are Unix seconds, documented as numbers
  but shown as strings in Microsoft's own sample, so both are accepted; the same sample carries a
  stray space in ``"ObjectName "`` and in the version value, so names and values are trimmed).
  https://learn.microsoft.com/azure/event-grid/event-schema-key-vault
- :class:`MonitorAlert` for :data:`EVENT_TYPE_MONITOR_ALERT` (``Tokenwarden.MonitorAlert``): an
  Azure Monitor alert in the common alert schema, relayed onto Tokenwarden's custom topic. Azure
  Monitor action groups do not publish to Event Grid themselves, so the relay (a Logic App or the
  webhook action's receiver) chooses the event type; this is the one Tokenwarden documents.
  https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema
  https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-payload-samples
- :class:`TokenAnomaly` for ``Tokenwarden.TokenAnomaly``: one token-validation observation in the
  ``TokenValidation_CL`` contract (``shared/schemas/TokenValidation_CL.json``), as an app's
  validation middleware reports it, already converted into a :class:`~shared.detect.findings.Finding`.
- :class:`UnknownEvent` for anything else: the caller logs and acknowledges it (Event Grid would
  otherwise retry it for a day), never fails on it.

A malformed event (no id or type, data that is not an object, unreadable times, a known type with
missing fields) raises :class:`~shared.core.errors.DataError` with one line naming the field path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.core.errors import DataError
from shared.core.resource_names import EVENT_TYPE_MONITOR_ALERT, EVENT_TYPE_TOKEN_ANOMALY
from shared.core.timeparse import supported_instant
from shared.detect.findings import Finding

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

KEY_VAULT_EVENT_TYPES: Mapping[str, Literal["new_version", "near_expiry", "expired"]] = {
    "Microsoft.KeyVault.KeyNewVersionCreated": "new_version",
    "Microsoft.KeyVault.KeyNearExpiry": "near_expiry",
    "Microsoft.KeyVault.KeyExpired": "expired",
}

ANOMALY_RULE_ID = "app-reported-token-anomaly"
"""Rule id of findings built from app reports. It is not a folder under ``shared/rules/``: case
building does not need one, but a triage policy condition naming it is refused by the policy loader
unless the caller adds it to ``known_rules``."""
ANOMALY_RULE_TITLE = "Token anomaly reported by an application"
COMMON_ALERT_SCHEMA_ID = "azureMonitorCommonAlertSchema"

EventSchema = Literal["eventgrid", "cloudevents"]
_SEVERITY_LEVELS = ("Sev0", "Sev1", "Sev2", "Sev3", "Sev4")
_LEGACY_ALERT_TIME = "%m/%d/%Y %I:%M:%S %p"  # "3/22/2019 1:36:31 PM" in legacy log-search alert contexts


@dataclass(frozen=True, kw_only=True)
class _Envelope:
    schema: EventSchema
    id: str
    type: str
    source: str | None
    subject: str | None
    time: datetime | None
    data: object


@dataclass(frozen=True, kw_only=True)
class KeyVaultKeyEvent:
    event_id: str
    event_type: str
    kind: Literal["new_version", "near_expiry", "expired"]
    key_id: str
    """The key version's URL (``data.Id``)."""
    vault_name: str
    object_name: str
    version: str
    not_before: datetime | None
    expires: datetime | None
    event_time: datetime | None
    topic: str | None


@dataclass(frozen=True, kw_only=True)
class MonitorAlert:
    event_id: str
    alert_id: str
    rule_name: str
    rule_id: str | None
    """The Tokenwarden rule the alert rule is named after, when it is one."""
    severity: str
    monitor_condition: str | None
    signal_type: str | None
    fired_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    search_query: str | None


@dataclass(frozen=True, kw_only=True)
class TokenAnomaly:
    event_id: str
    reason: str
    finding: Finding


@dataclass(frozen=True, kw_only=True)
class UnknownEvent:
    event_id: str
    event_type: str
    source: str | None


ParsedEvent = KeyVaultKeyEvent | MonitorAlert | TokenAnomaly | UnknownEvent


def event_from_eventgrid(event: Any) -> dict[str, object]:
    """The neutral dict for an ``azure.functions.EventGridEvent`` (Event Grid schema)."""
    return {
        "schema": "eventgrid",
        "id": event.id,
        "type": event.event_type,
        "source": event.topic,
        "subject": event.subject,
        "time": event.event_time,
        "data": event.get_json(),
        "data_version": event.data_version,
    }


def event_from_cloudevent(event: Any) -> dict[str, object]:
    """The neutral dict for an ``azure.functions.CloudEvent`` (CloudEvents 1.0 schema)."""
    return {
        "schema": "cloudevents",
        "id": event.id,
        "type": event.type,
        "source": event.source,
        "subject": event.subject,
        "time": event.time,
        "data": event.get_json(),
        "specversion": event.specversion,
    }


def parse_event(envelope: object, *, rule_ids: Collection[str] = ()) -> ParsedEvent:
    """Dispatch one event. *envelope* is the neutral dict, or a raw Event Grid / CloudEvents JSON object.

    :param rule_ids: Tokenwarden rule ids (``load_rules().ids``), to map an alert rule's name to one.
    :raises DataError: the event is malformed; the message names the field path.
    """
    event = _envelope(envelope)
    kind = KEY_VAULT_EVENT_TYPES.get(event.type)
    if kind is not None:
        return _key_vault(event, kind)
    if event.type == EVENT_TYPE_MONITOR_ALERT:
        return _monitor_alert(event, rule_ids)
    if event.type == EVENT_TYPE_TOKEN_ANOMALY:
        return _token_anomaly(event)
    return UnknownEvent(event_id=event.id, event_type=event.type, source=event.source)


# -- envelope -----------------------------------------------------------------------------------


def _envelope(raw: object) -> _Envelope:
    if not isinstance(raw, Mapping):
        raise DataError(f"event is not an object but {type(raw).__name__}")
    if "schema" in raw:
        schema = raw["schema"]
        if schema not in ("eventgrid", "cloudevents"):
            raise DataError(f"schema: {schema!r} is neither 'eventgrid' nor 'cloudevents'")
        fields = {"id": "id", "type": "type", "source": "source", "subject": "subject", "time": "time"}
    elif "specversion" in raw:
        schema = "cloudevents"
        fields = {"id": "id", "type": "type", "source": "source", "subject": "subject", "time": "time"}
    else:
        schema = "eventgrid"
        fields = {"id": "id", "type": "eventType", "source": "topic", "subject": "subject", "time": "eventTime"}
    if schema == "cloudevents" and "specversion" in raw and raw["specversion"] != "1.0":
        raise DataError(f"specversion: {raw['specversion']!r} is not 1.0")
    event_id = _required_text(raw, fields["id"], fields["id"])
    event_type = _required_text(raw, fields["type"], fields["type"])
    data = raw.get("data")
    if not isinstance(data, Mapping):
        raise DataError(f"data: expected an object, got {_kind(data)}")
    return _Envelope(
        schema=schema,
        id=event_id,
        type=event_type,
        source=_optional_text(raw, fields["source"], fields["source"]),
        subject=_optional_text(raw, fields["subject"], fields["subject"]),
        time=_instant(raw.get(fields["time"]), fields["time"]),
        data=data,
    )


# -- Key Vault ----------------------------------------------------------------------------------


def _key_vault(event: _Envelope, kind: Literal["new_version", "near_expiry", "expired"]) -> KeyVaultKeyEvent:
    assert isinstance(event.data, Mapping)
    data = {str(key).strip().lower(): value for key, value in event.data.items()}
    object_type = _required_text(data, "objecttype", "data.ObjectType")
    if object_type.lower() != "key":
        raise DataError(f"data.ObjectType: {object_type!r} is not 'Key' on a {event.type} event")
    return KeyVaultKeyEvent(
        event_id=event.id,
        event_type=event.type,
        kind=kind,
        key_id=_required_text(data, "id", "data.Id"),
        vault_name=_required_text(data, "vaultname", "data.VaultName"),
        object_name=_required_text(data, "objectname", "data.ObjectName"),
        version=_required_text(data, "version", "data.Version"),
        not_before=_unix(data.get("nbf"), "data.NBF"),
        expires=_unix(data.get("exp"), "data.EXP"),
        event_time=event.time,
        topic=event.source,
    )


# -- Azure Monitor alerts (common alert schema) -------------------------------------------------


def _monitor_alert(event: _Envelope, rule_ids: Collection[str]) -> MonitorAlert:
    assert isinstance(event.data, Mapping)
    payload: Mapping[str, Any] = event.data
    prefix = "data"
    if "schemaId" in payload:
        if payload["schemaId"] != COMMON_ALERT_SCHEMA_ID:
            raise DataError(f"data.schemaId: {payload['schemaId']!r} is not {COMMON_ALERT_SCHEMA_ID}")
        payload = _object(payload.get("data"), "data.data")
        prefix = "data.data"
    essentials = _object(payload.get("essentials"), f"{prefix}.essentials")
    where = f"{prefix}.essentials"
    severity = _required_text(essentials, "severity", f"{where}.severity")
    if severity not in _SEVERITY_LEVELS:
        raise DataError(f"{where}.severity: {severity!r} is not one of {', '.join(_SEVERITY_LEVELS)}")
    context_raw = payload.get("alertContext")
    context: Mapping[str, Any] = context_raw if isinstance(context_raw, Mapping) else {}
    window_start, window_end, query = _alert_window(context, f"{prefix}.alertContext")
    rule_name = _required_text(essentials, "alertRule", f"{where}.alertRule")
    return MonitorAlert(
        event_id=event.id,
        alert_id=_required_text(essentials, "alertId", f"{where}.alertId"),
        rule_name=rule_name,
        rule_id=_rule_for(rule_name, rule_ids),
        severity=severity,
        monitor_condition=_optional_text(essentials, "monitorCondition", f"{where}.monitorCondition"),
        signal_type=_optional_text(essentials, "signalType", f"{where}.signalType"),
        fired_at=_instant(essentials.get("firedDateTime"), f"{where}.firedDateTime"),
        window_start=window_start,
        window_end=window_end,
        search_query=query,
    )


def _alert_window(context: Mapping[str, Any], where: str) -> tuple[datetime | None, datetime | None, str | None]:
    """Log Alerts V2 put the window in ``condition.windowStartTime/windowEndTime`` and the query in
    ``condition.allOf[].searchQuery``; legacy log search alerts use ``SearchIntervalStartTimeUtc`` /
    ``SearchIntervalEndtimeUtc`` (sic) in US format and ``SearchQuery``."""
    condition = context.get("condition")
    if isinstance(condition, Mapping) and ("windowStartTime" in condition or "windowEndTime" in condition):
        start = _instant(condition.get("windowStartTime"), f"{where}.condition.windowStartTime")
        end = _instant(condition.get("windowEndTime"), f"{where}.condition.windowEndTime")
        query = None
        all_of = condition.get("allOf")
        if isinstance(all_of, list):
            query = next((item["searchQuery"] for item in all_of
                          if isinstance(item, Mapping) and isinstance(item.get("searchQuery"), str)), None)
        return start, end, query
    start_key = next((key for key in context if key.lower() == "searchintervalstarttimeutc"), None)
    end_key = next((key for key in context if key.lower() == "searchintervalendtimeutc"), None)
    query_value = context.get("SearchQuery")
    query_text = query_value if isinstance(query_value, str) else None
    start = _instant(context[start_key], f"{where}.{start_key}", legacy=True) if start_key else None
    end = _instant(context[end_key], f"{where}.{end_key}", legacy=True) if end_key else None
    if start and end and end < start:
        raise DataError(f"{where}: alert window ends before it starts")
    return start, end, query_text


def _rule_for(rule_name: str, rule_ids: Collection[str]) -> str | None:
    """The rule id an alert rule is named after: the id itself, ``tokenwarden-<id>``, or ``Tokenwarden: <id>``."""
    name = re.sub(r"^tokenwarden\s*[-:_/]\s*", "", rule_name.strip(), flags=re.IGNORECASE).lower()
    return next((rule_id for rule_id in rule_ids if rule_id.lower() == name), None)


# -- app-reported token anomalies ---------------------------------------------------------------


def _token_anomaly(event: _Envelope) -> TokenAnomaly:
    assert isinstance(event.data, Mapping)
    data: Mapping[str, Any] = event.data
    kid = _optional_text(data, "KeyId", "data.KeyId")
    x5t = _optional_text(data, "X5t", "data.X5t")
    if kid is None and x5t is None:
        raise DataError("data.KeyId: missing (neither KeyId nor X5t names the signing key)")
    oid = _optional_text(data, "ObjectId", "data.ObjectId")
    upn = _optional_text(data, "Upn", "data.Upn")
    if oid is None and upn is None:
        raise DataError("data.ObjectId: missing (neither ObjectId nor Upn names the user)")
    observed = _instant(data.get("TimeGenerated"), "data.TimeGenerated")
    if observed is None:
        raise DataError("data.TimeGenerated: missing")
    reason = _required_text(data, "FailureReason", "data.FailureReason")
    issuer = _required_text(data, "Issuer", "data.Issuer")
    tenant = _required_text(data, "TokenTenantId", "data.TokenTenantId")
    audience = _required_text(data, "Audience", "data.Audience")
    app_id = _required_text(data, "AppId", "data.AppId")
    evidence: dict[str, Any] = {
        "reason": reason,
        "event_id": event.id,
        "reported_by": event.source,
        "audience": audience,
        "x5t": x5t,
    }
    for column in ("AppName", "Outcome", "Algorithm", "TokenVersion", "IdentityProvider", "ClientAppId",
                   "Subject", "UserAgent"):
        value = _optional_text(data, column, f"data.{column}")
        if value is not None:
            evidence[_snake(column)] = value
    for column in ("IssuedAt", "NotBefore", "ExpiresAt"):
        instant = _instant(data.get(column), f"data.{column}")
        if instant is not None:
            evidence[_snake(column)] = instant.isoformat().replace("+00:00", "Z")
    finding = Finding(
        rule_id=ANOMALY_RULE_ID,
        rule_title=ANOMALY_RULE_TITLE,
        severity="Medium",
        first_seen=observed,
        last_seen=observed,
        count=1,
        user_upn=upn,
        user_object_id=oid,
        app_id=app_id,
        ip_address=_optional_text(data, "ClientIp", "data.ClientIp"),
        key_id=kid or x5t,
        token_id=_optional_text(data, "TokenId", "data.TokenId"),
        issuer=issuer,
        tenant_id=tenant,
        source_table="TokenValidation_CL",
        evidence=evidence,
    )
    return TokenAnomaly(event_id=event.id, reason=reason, finding=finding)


# -- field helpers ------------------------------------------------------------------------------


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise DataError(f"{where}: expected an object, got {_kind(value)}")
    return value


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(f"{where}: expected a string, got {_kind(value)}")
    return value.strip() or None


def _required_text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = _optional_text(data, key, where)
    if value is None:
        raise DataError(f"{where}: missing or empty")
    return value


def _instant(value: object, where: str, *, legacy: bool = False) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _supported(value, where)
    if not isinstance(value, str):
        raise DataError(f"{where}: expected an ISO 8601 time, got {_kind(value)}")
    text = value.strip()
    if legacy:
        try:
            return datetime.strptime(text, _LEGACY_ALERT_TIME).replace(tzinfo=UTC)
        except ValueError:
            pass
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    # Azure writes seven fractional digits ("...24.3713213Z"); Python 3.11 reads at most six.
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate)
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise DataError(f"{where}: {value!r} is not an ISO 8601 time") from None
    return _supported(parsed, where)


def _supported(value: datetime, where: str) -> datetime:
    """*value* in UTC (a zoneless time is UTC, as Event Grid and Azure Monitor write it), or DataError when it is
    outside the range every later step (windows, lookbacks, the ledger, Kusto) can represent."""
    try:
        return supported_instant(value, assume_utc=True)
    except ValueError as exc:
        raise DataError(f"{where}: {exc}") from None


def _unix(value: object, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    number: float
    if isinstance(value, bool):
        raise DataError(f"{where}: expected Unix seconds, got a bool")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise DataError(f"{where}: {value!r} is not Unix seconds") from None
    else:
        raise DataError(f"{where}: expected Unix seconds, got {_kind(value)}")
    if not math.isfinite(number):
        raise DataError(f"{where}: {value!r} is not Unix seconds")
    try:
        instant = datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        raise DataError(f"{where}: {value!r} is out of range") from None
    return _supported(instant, where)
