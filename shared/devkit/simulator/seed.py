"""Seed a :class:`TenantState` from a folder written by ``generate_demo_data``.

``tenant.json`` gives the users (with the generator's ``privileged`` flag) and
``apps.json`` the service principals, so every user and app the sample logs
mention resolves. What the generator does not write is derived from the tenant
id, deterministically, so the same folder always yields the same directory:

* privileged users hold Global Administrator (the first also Privileged Role
  Administrator);
* four ordinary users hold ordinary roles: Reports Reader, Security Reader and
  Helpdesk Administrator directly, Security Administrator only through the
  role-assignable group "Tier 0 Security Operations" (``memberOf`` shows the
  group, ``transitiveMemberOf`` also the role, as Entra does);
* everyone is in their department's Microsoft 365 group; the IT group is nested
  in the "VPN Users" security group;
* four users have riskyUsers entries (high and medium at risk, one remediated,
  one dismissed), dated relative to ``planted.json``'s ``end`` when present.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.core.errors import DataError
from shared.devkit.simulator import roles
from shared.devkit.simulator.state import (
    SimGroup,
    SimRiskyUser,
    SimServicePrincipal,
    SimUser,
    TenantState,
    VerifiedPublisher,
)

__all__ = ["MICROSOFT_SERVICES_TENANT_ID", "load_tenant_state", "seed_directory"]

MICROSOFT_SERVICES_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
"""The tenant that owns Microsoft's first-party apps (their ``appOwnerOrganizationId``)."""
_FIRST_PARTY_APP_IDS = frozenset({
    "00000002-0000-0ff1-ce00-000000000000",  # Office 365 Exchange Online
    "00000003-0000-0000-c000-000000000000",  # Microsoft Graph
    "d3590ed6-52b3-4102-aeff-aad2292ab01c",  # Microsoft Office
    "27922004-5251-4030-b22d-91ecd9a37ea4",  # Outlook Mobile
})
_DEFAULT_RISK_TIME = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def load_tenant_state(folder: Path | str) -> TenantState:
    """Read ``tenant.json`` and ``apps.json`` from ``folder`` (``apps.json`` is optional)."""
    folder = Path(folder)
    tenant_doc = _read_json(folder / "tenant.json")
    if not isinstance(tenant_doc, dict) or not isinstance(tenant_doc.get("users"), list):
        raise DataError("expected an object with tenantId, domain and a users list",
                        location=str(folder / "tenant.json"))
    tenant_id = _text(tenant_doc, "tenantId", folder / "tenant.json")
    state = TenantState(tenant_id=tenant_id, domain=str(tenant_doc.get("domain") or "contoso.example"))
    for index, entry in enumerate(tenant_doc["users"]):
        if not isinstance(entry, dict):
            raise DataError(f"users[{index}] is not an object", location=str(folder / "tenant.json"))
        state.add_user(_user(state, entry, folder / "tenant.json"))
    apps_path = folder / "apps.json"
    if apps_path.exists():
        apps_doc = _read_json(apps_path)
        items = apps_doc.get("value") if isinstance(apps_doc, dict) else apps_doc
        if not isinstance(items, list):
            raise DataError("expected a JSON list of servicePrincipal objects", location=str(apps_path))
        for index, entry in enumerate(items):
            if not isinstance(entry, dict):
                raise DataError(f"[{index}] is not an object", location=str(apps_path))
            state.add_service_principal(_service_principal(state, entry, apps_path))
    seed_directory(state, risk_reference=_planted_end(folder / "planted.json"))
    return state


def seed_directory(state: TenantState, *, risk_reference: datetime | None = None) -> None:
    """Give the state's users groups, roles and risk as described in the module docstring."""
    users = sorted(state.users(), key=lambda user: user.user_principal_name)
    privileged = [user for user in users if user.privileged]
    ordinary = sorted((user for user in users if not user.privileged), key=lambda u: _rank(state.tenant_id, u.id))
    for index, user in enumerate(privileged):
        state.assign_role(user.id, roles.GLOBAL_ADMINISTRATOR)
        if index == 0:
            state.assign_role(user.id, roles.PRIVILEGED_ROLE_ADMINISTRATOR)
    departments: dict[str, SimGroup] = {}
    for user in users:
        department = user.department or "General"
        group = departments.get(department)
        if group is None:
            nickname = department.lower().replace(" ", "")
            group = state.add_group(SimGroup(
                id=state.stable_id("group", department), display_name=f"{department} Team",
                description=f"Everyone in {department}", mail_nickname=nickname, security_enabled=False,
                mail_enabled=True, group_types=("Unified",), mail=f"{nickname}@{state.domain}"))
            departments[department] = group
        state.add_member(group.id, user.id)
    vpn = state.add_group(SimGroup(id=state.stable_id("group", "VPN Users"), display_name="VPN Users",
                                   description="Remote access", mail_nickname="vpnusers"))
    if "IT" in departments:
        state.add_member(vpn.id, departments["IT"].id)
    for user in ordinary[: len(ordinary) // 3]:
        state.add_member(vpn.id, user.id)
    tier0 = state.add_group(SimGroup(
        id=state.stable_id("group", "Tier 0 Security Operations"), display_name="Tier 0 Security Operations",
        description="Role-assignable group for the security operations team", mail_nickname="tier0secops",
        is_assignable_to_role=True))
    state.assign_role(tier0.id, roles.SECURITY_ADMINISTRATOR)
    for user, template in zip(ordinary, (roles.REPORTS_READER, roles.SECURITY_READER, roles.HELPDESK_ADMINISTRATOR),
                              strict=False):
        state.assign_role(user.id, template)
    if len(ordinary) > 3:
        state.add_member(tier0.id, ordinary[3].id)
    reference = risk_reference or _DEFAULT_RISK_TIME
    risk_profiles = (
        ("high", "atRisk", "none", timedelta(hours=2)),
        ("medium", "atRisk", "none", timedelta(hours=30)),
        ("none", "remediated", "userPerformedSecuredPasswordReset", timedelta(days=6)),
        ("none", "dismissed", "adminDismissedAllRiskForUser", timedelta(days=12)),
    )
    for user, (level, risk_state, detail, age) in zip(ordinary[4:], risk_profiles, strict=False):
        state.set_risky_user(SimRiskyUser(
            id=user.id, user_principal_name=user.user_principal_name, user_display_name=user.display_name,
            risk_level=level, risk_state=risk_state, risk_detail=detail,
            risk_last_updated=reference - age + timedelta(microseconds=_rank(state.tenant_id, user.id) % 999_999)))


def _user(state: TenantState, entry: dict[str, object], source: Path) -> SimUser:
    user_id = _text(entry, "id", source)
    upn = _text(entry, "userPrincipalName", source)
    display_name = str(entry.get("displayName") or upn)
    given, _, surname = display_name.partition(" ")
    created = datetime(2023, 1, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=_rank(state.tenant_id, user_id) % 700_000)
    return SimUser(
        id=user_id, user_principal_name=upn, display_name=display_name, given_name=given or None,
        surname=surname or None, mail=upn, department=_optional(entry, "department"),
        job_title=_optional(entry, "jobTitle"), created=created, sign_in_sessions_valid_from=created,
        preferred_language="en-US", usage_location="US", privileged=entry.get("privileged") is True,
    )


def _service_principal(state: TenantState, entry: dict[str, object], source: Path) -> SimServicePrincipal:
    app_id = _text(entry, "appId", source)
    names = entry.get("servicePrincipalNames")
    owner = _optional(entry, "appOwnerOrganizationId")
    if owner is None and app_id.lower() in _FIRST_PARTY_APP_IDS:
        owner = MICROSOFT_SERVICES_TENANT_ID
    publisher = entry.get("verifiedPublisher")
    verified = VerifiedPublisher()
    if isinstance(publisher, dict) and publisher.get("displayName"):
        added = publisher.get("addedDateTime")
        verified = VerifiedPublisher(
            display_name=str(publisher["displayName"]),
            verified_publisher_id=_optional(publisher, "verifiedPublisherId"),
            added=datetime.fromisoformat(added.replace("Z", "+00:00")) if isinstance(added, str) else None)
    return SimServicePrincipal(
        id=_optional(entry, "id") or state.stable_id("servicePrincipal", app_id),
        app_id=app_id,
        display_name=str(entry.get("displayName") or app_id),
        sign_in_audience=_optional(entry, "signInAudience"),
        service_principal_names=tuple(str(n) for n in names) if isinstance(names, list) else (app_id,),
        app_owner_organization_id=owner,
        verified_publisher=verified,
        service_principal_type=_optional(entry, "servicePrincipalType") or "Application",
    )


def _rank(tenant_id: str, object_id: str) -> int:
    """A stable pseudo-random number per object, so choices do not depend on file order."""
    return int.from_bytes(hashlib.sha256(f"{tenant_id}/{object_id}".encode()).digest()[:8], "big")


def _planted_end(path: Path) -> datetime | None:
    if not path.exists():
        return None
    document = _read_json(path)
    end = document.get("end") if isinstance(document, dict) else None
    if not isinstance(end, str):
        return None
    try:
        return datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError("file not found", location=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read JSON: {exc}", location=str(path)) from None


def _text(entry: dict[str, object], key: str, source: Path) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"missing or empty {key!r}", location=str(source))
    return value


def _optional(entry: dict[str, object], key: str) -> str | None:
    value = entry.get(key)
    return value if isinstance(value, str) and value else None
