"""Who is calling: the signed-in principal as the platform reports it, and whether it may approve.

An approval releases tenant writes, so the approver's identity is trusted only from the platform. App Service
authentication (Easy Auth) strips any ``X-MS-CLIENT-PRINCIPAL*`` header a client sends and sets its own, and the
platform injects ``WEBSITE_AUTH_ENABLED`` when it is on. Without that setting the headers are whatever the caller
wrote, so an approval is refused (403) unless the operator turned on ``INSECURE_LOCAL_APPROVALS`` (``make demo``,
tests), which takes the approver named in the body, unverified, and which ``/api/health`` reports.

Sources (Microsoft):

* App Service, "Work with user identities in Azure App Service authentication"
  (MicrosoftDocs/azure-docs ``articles/app-service/configure-authentication-user-identities.md``): the headers
  ``X-MS-CLIENT-PRINCIPAL`` (Base64-encoded JSON ``{auth_typ, claims: [{typ, val}], name_typ, role_typ}``),
  ``X-MS-CLIENT-PRINCIPAL-ID`` and ``X-MS-CLIENT-PRINCIPAL-NAME``; external requests cannot set them; claims go
  through a default claims mapping, so a claim may be named by its short name or by a schema URI.
* App Service app settings reference (``articles/app-service/reference-app-settings.md``): ``WEBSITE_AUTH_ENABLED``
  is read-only, injected to say whether App Service authentication is enabled.
* Entra, "Add app roles and get them from a token" (MicrosoftDocs/entra-docs
  ``docs/identity-platform/howto-add-app-roles-in-apps.md``): a role the principal holds on the API's app
  registration arrives in the ``roles`` claim, one claim per role, by its ``value``.

A principal that holds the role may still not approve a response it requested: :func:`refuse_self_approval`.
Every refusal is audited (:func:`refuse`): one ``tokenwarden.audit`` line, as JSON, with the caller's claimed
name escaped and scrubbed, never the header itself; and, on the response-path routes (:func:`audit_refusals`),
one audit row per refused request (:mod:`shared.audit.refusals`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from shared.api.errors import ApiError
from shared.core.safetext import caller_text

if TYPE_CHECKING:
    from shared.api.http import ApiCall
    from shared.core.settings import Settings

__all__ = ["MAX_PRINCIPAL_HEADER_BYTES", "Caller", "approver", "audit_refusals", "platform_caller", "refuse",
           "refuse_self_approval", "requester"]

MAX_PRINCIPAL_HEADER_BYTES = 32 * 1024
"""A client principal larger than this is not read (the platform's own headers are far smaller)."""
ROLE_CLAIM_TYPES = frozenset({"roles", "role", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"})
OBJECT_ID_CLAIM_TYPES = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
NAME_CLAIM_TYPES = ("preferred_username", "upn", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name", "name")

audit_log = logging.getLogger("tokenwarden.audit")


@dataclass(frozen=True, kw_only=True)
class Caller:
    """A principal: the name an approval is recorded under, its object id and roles when the platform said so."""

    name: str
    object_id: str | None = None
    roles: frozenset[str] = frozenset()
    verified: bool = False
    """The identity came from App Service authentication, not from the request body."""

    def is_named(self, names: Collection[str]) -> bool:
        """Whether any of *names* (UPNs, object ids; compared without case) is this principal."""
        mine = {self.name.strip().lower(), (self.object_id or "").strip().lower()} - {""}
        return any(str(name).strip().lower() in mine for name in names)


def _claims(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    claims = payload.get("claims")
    if not isinstance(claims, list):
        return []
    return [(str(c["typ"]), str(c["val"])) for c in claims
            if isinstance(c, Mapping) and isinstance(c.get("typ"), str) and isinstance(c.get("val"), str)]


def _decode_principal(header: str) -> Mapping[str, Any] | None:
    if len(header) > MAX_PRINCIPAL_HEADER_BYTES:
        return None
    try:
        raw = base64.b64decode(header.strip() + "=" * (-len(header.strip()) % 4), validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, RecursionError):
        return None
    return payload if isinstance(payload, Mapping) else None


def platform_caller(headers: Mapping[str, str], settings: Settings) -> Caller | None:
    """The signed-in principal App Service authentication put on the request; None when the platform did not.

    Headers are trusted only when ``WEBSITE_AUTH_ENABLED`` says the platform set them. A principal header that
    does not decode is treated as no principal (fail closed).
    """
    if not settings.platform_auth_enabled:
        return None
    header = headers.get("x-ms-client-principal") or ""
    payload = _decode_principal(header) if header else None
    if payload is None:
        return None
    claims = _claims(payload)
    role_types = set(ROLE_CLAIM_TYPES)
    if isinstance(payload.get("role_typ"), str) and payload["role_typ"]:
        role_types.add(payload["role_typ"])
    roles = frozenset(value for typ, value in claims if typ in role_types)
    by_type: dict[str, str] = {}
    for typ, value in claims:
        by_type.setdefault(typ, value)
    object_id = (headers.get("x-ms-client-principal-id") or "").strip() or next(
        (by_type[t] for t in OBJECT_ID_CLAIM_TYPES if by_type.get(t)), None)
    name_types = [payload["name_typ"]] if isinstance(payload.get("name_typ"), str) else []
    name = (headers.get("x-ms-client-principal-name") or "").strip() or next(
        (by_type[t] for t in (*name_types, *NAME_CLAIM_TYPES) if by_type.get(t)), None) or object_id
    if not name:
        return None
    return Caller(name=name, object_id=object_id, roles=roles, verified=True)


def refuse(call: ApiCall, code: str, message: str, *, action: str, claimed: str | None,
           case_id: str | None = None, caller: Caller | None = None) -> NoReturn:
    """Audit the refusal on ``tokenwarden.audit`` (one JSON line) and raise it as a 403."""
    record = {"refused": action, "code": code, "case_id": case_id, "invocation_id": call.invocation_id,
              "claimed": caller_text(claimed, limit=256) if claimed else None,
              "caller": caller_text(caller.name, limit=256) if caller else None,
              "caller_object_id": caller.object_id if caller else None,
              "verified": bool(caller and caller.verified)}
    audit_log.warning("refused %s", json.dumps(record, ensure_ascii=True, separators=(",", ":")),
                      extra={"case_id": case_id or "", "invocation_id": call.invocation_id})
    who = {key: record[key] for key in ("claimed", "caller", "caller_object_id", "verified")}
    raise ApiError(403, code, message, who=who)


def audit_refusals(settings: Callable[[], Settings], route: str) -> Callable[[ApiCall, ApiError], None]:
    """For :func:`shared.api.http.handle` on a response-path route: every 4xx it answers becomes an audit row
    (the Actions table, and TokenwardenAudit_CL when configured), besides the ``tokenwarden.audit`` line.
    *settings* is read only when a refusal is recorded (a configuration error stays the handler's answer)."""

    def record(call: ApiCall, error: ApiError) -> None:
        from shared.api.errors import redact
        from shared.audit.refusals import record_refusal

        case_id = call.route_param("id") or None
        actor = str(error.who.get("caller") or error.who.get("claimed") or "unknown")
        record_refusal(settings(), route=route, invocation_id=call.invocation_id, status=error.status,
                       code=error.code, message=redact(str(error)), case_id=case_id, actor=actor, who=error.who)

    return record


def requester(call: ApiCall, settings: Settings, *, claimed: str | None) -> Caller:
    """Who asks for a response: the signed-in caller when the platform says so, else the body's name (unverified).

    A signed-in caller whose body names someone else is refused, as an approver would be.
    """
    signed_in = platform_caller(call.request.headers, settings)
    if signed_in is None:
        return Caller(name=claimed or "api")
    if claimed and not signed_in.is_named([claimed]):
        refuse(call, "approver_mismatch", "the request must name the signed-in caller, not someone else",
               action="respond", claimed=claimed, caller=signed_in)
    return signed_in


def approver(call: ApiCall, settings: Settings, *, claimed: str | None, case_id: str | None) -> Caller:
    """The verified approver of this request, or a refusal (403, audited); see the module docstring."""
    if settings.insecure_local_approvals:
        if not claimed:
            refuse(call, "approver_missing", "name the approver (INSECURE_LOCAL_APPROVALS takes it from the body)",
                   action="approve", claimed=None, case_id=case_id)
        audit_log.warning("approval by %s is not verified: INSECURE_LOCAL_APPROVALS is on",
                          json.dumps(caller_text(claimed, limit=256)),
                          extra={"case_id": case_id or "", "invocation_id": call.invocation_id})
        return Caller(name=claimed)
    if not settings.platform_auth_enabled:
        refuse(call, "approver_not_verified", "approvals need App Service authentication (Easy Auth) in front of "
               "the API, so the approver is known from the platform; it is not on (WEBSITE_AUTH_ENABLED)",
               action="approve", claimed=claimed, case_id=case_id)
    signed_in = platform_caller(call.request.headers, settings)
    if signed_in is None:
        refuse(call, "not_signed_in", "sign in to approve: the request carries no principal from App Service "
               "authentication", action="approve", claimed=claimed, case_id=case_id)
    if settings.approver_role not in signed_in.roles:
        refuse(call, "not_an_approver", f"the signed-in caller does not hold the app role {settings.approver_role} "
               "on the API's app registration", action="approve", claimed=claimed, case_id=case_id, caller=signed_in)
    if claimed and not signed_in.is_named([claimed]):
        refuse(call, "approver_mismatch", "the approver must be the signed-in caller, not someone else",
               action="approve", claimed=claimed, case_id=case_id, caller=signed_in)
    return signed_in


def refuse_self_approval(call: ApiCall, approving: Caller, requested_by: Collection[str], *,
                         case_id: str | None) -> None:
    """403 (audited) when *approving* is one of the principals that requested the response."""
    if approving.is_named(requested_by):
        refuse(call, "self_approval", "a principal may not approve a response it requested; ask another approver",
               action="approve", claimed=approving.name, case_id=case_id, caller=approving)
