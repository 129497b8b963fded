"""The simulator's permission model covers every route it serves, and evaluates Azure roles as Azure does."""

from __future__ import annotations

from shared.devkit.simulator.arm import arm_router
from shared.devkit.simulator.handlers import default_router
from shared.devkit.simulator.permissions import GRAPH_REQUIREMENTS, Grants, RoleAssignment

WORKSPACE = ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws/providers/"
             "Microsoft.SecurityInsights/Incidents/i")
SITE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/app"


def test_every_graph_route_names_the_app_roles_microsoft_documents_for_it() -> None:
    routes = {(route.method, route.template) for route in default_router().routes() if route.template != "/$batch"}
    assert routes - set(GRAPH_REQUIREMENTS) == set()  # a new route cannot skip the permission model
    assert set(GRAPH_REQUIREMENTS) - routes == set()  # and no requirement is left for a route that is gone


def test_every_arm_route_names_its_rbac_action() -> None:
    assert all(route.rbac_action for route in arm_router().routes())


def test_sentinel_responder_may_write_incidents_but_not_delete_them() -> None:
    responder = Grants.deployed().roles["sentinelResponder"]
    assert responder.allows("Microsoft.SecurityInsights/incidents/write")
    assert responder.allows("microsoft.securityinsights/incidents/comments/write")  # actions are case-insensitive
    assert not responder.allows("Microsoft.SecurityInsights/incidents/comments/delete")  # a notAction
    assert not responder.allows("Microsoft.Web/sites/restart/action")


def test_the_restart_role_allows_restart_and_read_only() -> None:
    restart = Grants.deployed().roles["siteRestart"]
    assert restart.allows("Microsoft.Web/sites/restart/action") and restart.allows("Microsoft.Web/sites/read")
    assert not restart.allows("Microsoft.Web/sites/write")
    assert not restart.allows("Microsoft.Web/sites/config/list/action")  # no publishing credentials


def test_an_assignment_covers_its_scope_and_below_only() -> None:
    grants = Grants.deployed()
    grants.assign("siteRestart", [SITE])
    action = "Microsoft.Web/sites/restart/action"
    assert grants.arm_allows(action, SITE) and grants.arm_allows(action, SITE.upper())
    assert not grants.arm_allows(action, SITE + "2")  # a sibling whose name starts the same
    assert not grants.arm_allows(action, "/subscriptions/s/resourceGroups/rg")
    assert RoleAssignment(role=grants.roles["siteRestart"], scope="/").covers(SITE)
    assert grants.arm_allows("Microsoft.SecurityInsights/incidents/write", WORKSPACE)  # still at the root


def test_graph_requirements_are_alternatives_of_role_sets() -> None:
    grants = Grants.deployed()
    patch = GRAPH_REQUIREMENTS[("PATCH", "/users/{id}")]
    assert grants.graph_allows(patch)
    grants.graph_app_roles = {"User.EnableDisableAccount.All"}  # without User.Read.All beside it
    assert not grants.graph_allows(patch)
    grants.graph_app_roles = {"Directory.ReadWrite.All"}
    assert grants.graph_allows(patch) and grants.can_read_roles
