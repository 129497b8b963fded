"""The Microsoft Sentinel incident trigger body, as the playbook Logic App forwards it to the Function.

Sentinel automation rules can only run Logic App playbooks with the Sentinel incident trigger, so the
chain is automation rule -> Logic App -> HTTP call here. The trigger body is
``{eventUniqueId, objectSchemaType, objectEventType, workspaceId, workspaceInfo{SubscriptionId,
ResourceGroupName, WorkspaceName}, object{id, name, etag, properties{title, severity, status,
incidentNumber, incidentUrl, relatedAnalyticRuleIds, alerts, relatedEntities[{id, kind,
properties}]}}}``; a Logic App that posts ``@triggerOutputs()`` instead of ``@triggerBody()`` wraps it
in ``{"body": ...}``, which is unwrapped too. Entity properties follow the ARM entity models
(Account: ``aadUserId``, ``accountName``, ``upnSuffix``, ``displayName``, ``friendlyName``;
Ip: ``address``; CloudApplication: ``appId`` (a Defender for Cloud Apps number, not an Entra appId),
``appName``, ``instanceName``).

Two failures need different answers, so they are told apart by :attr:`TriggerError.status`:

- 400: no usable body at all (a playbook run by hand gives a null body; a non-incident trigger), so
  there is no incident to talk to;
- 422: a real incident with nothing Tokenwarden can act on (some incidents carry no entities); the
  incident id is known, so the caller can leave a comment on it instead of failing silently.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.core.errors import DataError

__all__ = [
    "AccountRef",
    "CloudAppRef",
    "IncidentTrigger",
    "TriggerError",
    "WorkspaceRef",
    "parse_incident_trigger",
]

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INCIDENT_PATH = "/providers/microsoft.securityinsights/incidents/"
_SEVERITIES = ("High", "Medium", "Low", "Informational")


class TriggerError(DataError):
    """The trigger body cannot be acted on; ``status`` is the HTTP answer (400 or 422)."""

    def __init__(self, message: str, *, status: Literal[400, 422], incident_id: str | None = None,
                 location: str | None = None) -> None:
        super().__init__(message, location=location)
        self.status = status
        self.incident_id = incident_id


@dataclass(frozen=True, kw_only=True)
class AccountRef:
    """An account entity. Resolve by ``aad_user_id`` first: a UPN can be renamed or reused."""

    aad_user_id: str | None
    upn: str | None
    display: str | None

    @property
    def key(self) -> str:
        return f"user:{self.aad_user_id.lower()}" if self.aad_user_id else f"upn:{(self.upn or '').lower()}"


@dataclass(frozen=True, kw_only=True)
class CloudAppRef:
    app_id: str | None
    name: str | None
    instance_name: str | None


@dataclass(frozen=True, kw_only=True)
class WorkspaceRef:
    subscription_id: str | None
    resource_group: str | None
    workspace_name: str | None
    workspace_id: str | None


@dataclass(frozen=True, kw_only=True)
class IncidentTrigger:
    incident_id: str
    """The incident's ARM id (``object.id``): what comments and updates are addressed to."""
    incident_name: str
    """The incident's GUID (``object.name``)."""
    incident_number: int | None
    title: str
    severity: str
    status: str | None
    incident_url: str | None
    event_type: str | None
    """``objectEventType``: Create or Update."""
    workspace: WorkspaceRef
    accounts: tuple[AccountRef, ...]
    ips: tuple[str, ...]
    cloud_apps: tuple[CloudAppRef, ...]
    hosts: tuple[str, ...]
    urls: tuple[str, ...]
    analytic_rule_ids: tuple[str, ...]
    skipped: tuple[str, ...]
    """One line per entity that could not be used (an account with neither object id nor UPN, say)."""


def parse_incident_trigger(body: object) -> IncidentTrigger:
    """Parse the forwarded trigger body (a dict, JSON text or bytes, or None).

    :raises TriggerError: status 400 when there is no incident to act on, 422 when the incident has
        no account, IP or cloud-app entity (``incident_id`` is then set).
    """
    document = _document(body)
    obj = document.get("object")
    if not isinstance(obj, Mapping):
        raise TriggerError("object: missing; this is not a Sentinel incident trigger body", status=400)
    schema_type = document.get("objectSchemaType")
    if schema_type is not None and schema_type != "Incident":
        raise TriggerError(f"objectSchemaType: {schema_type!r} is not 'Incident'", status=400)
    incident_id = _text(obj.get("id"))
    if incident_id is None or _INCIDENT_PATH not in incident_id.lower():
        raise TriggerError(f"object.id: {obj.get('id')!r} is not a Sentinel incident resource id", status=400)
    properties = obj.get("properties")
    if not isinstance(properties, Mapping):
        raise TriggerError("object.properties: missing", status=400, incident_id=incident_id)
    name = _text(obj.get("name")) or incident_id.rsplit("/", 1)[-1]
    if not _GUID.match(name):
        raise TriggerError(f"object.name: {name!r} is not an incident GUID", status=400, incident_id=incident_id)
    severity = _text(properties.get("severity")) or ""
    if severity not in _SEVERITIES:
        raise TriggerError(f"object.properties.severity: {severity!r} is not one of {', '.join(_SEVERITIES)}",
                           status=400, incident_id=incident_id)
    number = properties.get("incidentNumber")
    if number is not None and (isinstance(number, bool) or not isinstance(number, int)):
        raise TriggerError(f"object.properties.incidentNumber: {number!r} is not an integer",
                           status=400, incident_id=incident_id)
    entities = properties.get("relatedEntities")
    if entities is not None and not isinstance(entities, list):
        raise TriggerError("object.properties.relatedEntities: expected a list", status=400, incident_id=incident_id)
    collected = _entities(entities or [])
    trigger = IncidentTrigger(
        incident_id=incident_id,
        incident_name=name,
        incident_number=number,
        title=_text(properties.get("title")) or "(untitled incident)",
        severity=severity,
        status=_text(properties.get("status")),
        incident_url=_text(properties.get("incidentUrl")),
        event_type=_text(document.get("objectEventType")),
        workspace=_workspace(document),
        accounts=tuple(collected.accounts.values()),
        ips=tuple(collected.ips),
        cloud_apps=tuple(collected.apps),
        hosts=tuple(collected.hosts),
        urls=tuple(collected.urls),
        analytic_rule_ids=tuple(value for value in properties.get("relatedAnalyticRuleIds") or []
                                if isinstance(value, str)),
        skipped=tuple(collected.skipped),
    )
    if not (trigger.accounts or trigger.ips or trigger.cloud_apps):
        detail = f" ({'; '.join(trigger.skipped)})" if trigger.skipped else ""
        raise TriggerError(f"incident {trigger.incident_number or name} has no account, IP or cloud-app entity "
                           f"Tokenwarden can act on{detail}", status=422, incident_id=incident_id)
    return trigger


def _document(body: object) -> Mapping[str, Any]:
    if body is None:
        raise TriggerError("the request has no body (a playbook run by hand sends none)", status=400)
    if isinstance(body, bytes | bytearray):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise TriggerError("the body is not UTF-8 text", status=400) from None
    if isinstance(body, str):
        if not body.strip():
            raise TriggerError("the request body is empty", status=400)
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise TriggerError(f"the body is not JSON: {exc.msg} at line {exc.lineno}", status=400) from None
    if not isinstance(body, Mapping) or not body:
        raise TriggerError("the body is empty or not a JSON object", status=400)
    for wrapper in ("body", "Body"):
        inner = body.get(wrapper)
        if "object" not in body and isinstance(inner, Mapping):
            return inner
    return body


def _text(value: object) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    return None


def _workspace(document: Mapping[str, Any]) -> WorkspaceRef:
    info = document.get("workspaceInfo")
    info = info if isinstance(info, Mapping) else {}
    return WorkspaceRef(
        subscription_id=_text(info.get("SubscriptionId")),
        resource_group=_text(info.get("ResourceGroupName")),
        workspace_name=_text(info.get("WorkspaceName")),
        workspace_id=_text(document.get("workspaceId")),
    )


@dataclass
class _Collected:
    accounts: dict[str, AccountRef]
    ips: list[str]
    apps: list[CloudAppRef]
    hosts: list[str]
    urls: list[str]
    skipped: list[str]


def _prop(properties: Mapping[str, Any], name: str) -> str | None:
    """A property by name, case-insensitively (alert-trigger entities spell them ``AadUserId``)."""
    lowered = name.lower()
    return next((_text(value) for key, value in properties.items() if str(key).lower() == lowered), None)


def _entities(entities: list[Any]) -> _Collected:
    collected = _Collected(accounts={}, ips=[], apps=[], hosts=[], urls=[], skipped=[])
    for index, entity in enumerate(entities):
        where = f"relatedEntities[{index}]"
        if not isinstance(entity, Mapping):
            collected.skipped.append(f"{where} is not an object")
            continue
        kind = (_text(entity.get("kind")) or "").lower()
        raw = entity.get("properties")
        properties: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        if kind == "account":
            _account(collected, properties, where)
        elif kind == "ip":
            _ip(collected, properties, where)
        elif kind == "cloudapplication":
            app_id = properties.get("appId")
            app = CloudAppRef(
                app_id=str(app_id) if isinstance(app_id, int | str) and not isinstance(app_id, bool) else None,
                name=_prop(properties, "appName") or _prop(properties, "friendlyName"),
                instance_name=_prop(properties, "instanceName"),
            )
            if app.app_id or app.name:
                if app not in collected.apps:
                    collected.apps.append(app)
            else:
                collected.skipped.append(f"{where} (CloudApplication) has neither appId nor appName")
        elif kind == "host":
            host = _prop(properties, "hostName")
            domain = _prop(properties, "dnsDomain")
            if host:
                fqdn = f"{host}.{domain}" if domain and "." not in host else host
                if fqdn not in collected.hosts:
                    collected.hosts.append(fqdn)
        elif kind == "url":
            url = _prop(properties, "url")
            if url and url not in collected.urls:
                collected.urls.append(url)
    return collected


def _account(collected: _Collected, properties: Mapping[str, Any], where: str) -> None:
    aad_user_id = _prop(properties, "aadUserId")
    if aad_user_id is not None and not _GUID.match(aad_user_id):
        collected.skipped.append(f"{where} (Account) aadUserId {aad_user_id!r} is not a GUID")
        aad_user_id = None
    name = _prop(properties, "accountName")
    suffix = _prop(properties, "upnSuffix")
    upn = None
    if name and "@" in name:
        upn = name
    elif name and suffix:
        upn = f"{name}@{suffix}"
    display = _prop(properties, "displayName") or _prop(properties, "friendlyName")
    if aad_user_id is None and upn is None:
        collected.skipped.append(f"{where} (Account {display or name or '?'}) has neither aadUserId nor a UPN")
        return
    account = AccountRef(aad_user_id=aad_user_id.lower() if aad_user_id else None, upn=upn, display=display)
    existing = collected.accounts.get(account.key)
    if existing is None or (existing.upn is None and account.upn is not None):
        collected.accounts[account.key] = account


def _ip(collected: _Collected, properties: Mapping[str, Any], where: str) -> None:
    address = _prop(properties, "address")
    try:
        parsed = ipaddress.ip_address(address or "")
    except ValueError:
        collected.skipped.append(f"{where} (Ip) address {address!r} is not an IP address")
        return
    if parsed.compressed not in collected.ips:
        collected.ips.append(parsed.compressed)
