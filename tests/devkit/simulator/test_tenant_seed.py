"""Seeding from a generated demo folder: every user and app resolves, and the directory is deterministic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.core.errors import DataError
from shared.devkit.simulator import SimGroup, SimUser, TenantState, load_tenant_state, roles
from shared.devkit.simulator.seed import MICROSOFT_SERVICES_TENANT_ID


def test_users_and_apps_of_the_logs_resolve(demo_folder: Path, demo_state: TenantState) -> None:
    tenant = json.loads((demo_folder / "tenant.json").read_text())
    apps = json.loads((demo_folder / "apps.json").read_text())
    assert demo_state.tenant_id == tenant["tenantId"]
    for entry in tenant["users"]:
        user = demo_state.find_user(entry["userPrincipalName"])
        assert user is not None
        assert user.id == entry["id"]
        assert demo_state.find_user(entry["id"].upper()) is user
    assert {p.app_id for p in demo_state.service_principals()} == {a["appId"] for a in apps}
    for line in (demo_folder / "SigninLogs.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert demo_state.find_user(row["UserId"]) is not None


def test_privileged_users_hold_global_administrator(demo_state: TenantState) -> None:
    holders = set(demo_state.role_holders(roles.GLOBAL_ADMINISTRATOR))
    assert holders == {user.id.lower() for user in demo_state.users() if user.privileged}
    assert holders


def test_ordinary_roles_groups_and_risk(demo_state: TenantState) -> None:
    ordinary = [user for user in demo_state.users() if not user.privileged]
    direct_roles = {template: set(demo_state.role_holders(template))
                    for template in (roles.REPORTS_READER, roles.SECURITY_READER, roles.HELPDESK_ADMINISTRATOR)}
    assert all(len(holders) == 1 for holders in direct_roles.values())
    assert all(holder in {u.id.lower() for u in ordinary} for h in direct_roles.values() for holder in h)
    for user in demo_state.users():
        assert any(isinstance(c, SimGroup) and "Unified" in c.group_types for c in demo_state.member_of(user.id))
    levels = sorted((r.risk_level, r.risk_state) for r in demo_state.risky_users())
    assert levels == [("high", "atRisk"), ("medium", "atRisk"), ("none", "dismissed"), ("none", "remediated")]
    assert all(demo_state.find_user(r.id) is not None for r in demo_state.risky_users())


def test_first_party_apps_are_owned_by_microsoft(demo_state: TenantState) -> None:
    graph = next(p for p in demo_state.service_principals() if p.app_id == "00000003-0000-0000-c000-000000000000")
    assert graph.app_owner_organization_id == MICROSOFT_SERVICES_TENANT_ID


def test_same_folder_same_directory(demo_folder: Path) -> None:
    def snapshot(state: TenantState) -> list[tuple[str, list[str]]]:
        return sorted((u.id, sorted(c.id for c in state.transitive_member_of(u.id))) for u in state.users())

    first, second = load_tenant_state(demo_folder), load_tenant_state(demo_folder)
    assert snapshot(first) == snapshot(second)
    assert sorted(r.id for r in first.risky_users()) == sorted(r.id for r in second.risky_users())


def test_programmatic_state(tmp_path: Path) -> None:
    state = TenantState(tenant_id="11111111-2222-3333-4444-555555555555")
    alice = state.add_user(SimUser(id="aaaaaaaa-0000-0000-0000-000000000001", user_principal_name="alice@x.example",
                                   display_name="Alice"))
    outer = state.add_group(SimGroup(id=state.stable_id("group", "outer"), display_name="Outer", mail_nickname="o"))
    inner = state.add_group(SimGroup(id=state.stable_id("group", "inner"), display_name="Inner", mail_nickname="i"))
    state.add_member(inner.id, alice.id)
    state.add_member(outer.id, inner.id)
    state.assign_role(outer.id, roles.GLOBAL_READER)
    assert [c.id for c in state.member_of(alice.id)] == [inner.id]
    transitive = [c.id for c in state.transitive_member_of(alice.id)]
    assert transitive[:2] == [inner.id, outer.id]
    assert state.activate_role(roles.GLOBAL_READER).id in transitive
    with pytest.raises(ValueError, match="already exists"):
        state.add_user(SimUser(id="other", user_principal_name="ALICE@x.example", display_name="Dup"))
    with pytest.raises(KeyError):
        state.add_member("no-such-group", alice.id)


def test_bad_folders_are_data_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_tenant_state(tmp_path)
    (tmp_path / "tenant.json").write_text('{"tenantId": "x"}')
    with pytest.raises(DataError, match="users list"):
        load_tenant_state(tmp_path)
    (tmp_path / "tenant.json").write_text('{"tenantId": "11111111-2222-3333-4444-555555555555", '
                                          '"users": [{"id": "u1"}]}')
    with pytest.raises(DataError, match="userPrincipalName"):
        load_tenant_state(tmp_path)
