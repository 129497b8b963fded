"""Graph v1.0 write endpoints responders call: revoke sessions, enable/disable accounts, confirm compromise.

* ``POST /users/{id}/revokeSignInSessions``: 200 with an ``Edm.Boolean`` body;
  sets the user's ``signInSessionsValidFromDateTime`` to the request's time.
* ``PATCH /users/{id}``: 204; only ``accountEnabled`` is supported here, any
  other property is a 400 (the simulator does not pretend to store it). Changing
  ``accountEnabled`` of a user who holds a directory role is a 403
  ``Authorization_RequestDenied``: the app holds no Entra role above the user's.
* ``POST /identityProtection/riskyUsers/confirmCompromised``: 204; each user's
  riskyUser becomes high / confirmedCompromised / adminConfirmedUserCompromised
  (created when the user had none). Throttled by the identityProtection family.
  ``userIds`` are object ids: a UPN is a 400, an unknown id a 404, and either
  refuses the whole call, as one request (nothing is confirmed).

The routes are ``replaceable``: a test may ``router.add`` its own handler for
one of them. User writes are charged to the identity family (1 resource unit: writes are not
in Graph's cost table). Each change is appended to ``state.writes``.
"""

from __future__ import annotations

import json

from shared.core.guids import is_guid
from shared.devkit.simulator import throttling
from shared.devkit.simulator.handlers.common import resource_not_found
from shared.devkit.simulator.responses import GraphResponse, graph_error, json_response
from shared.devkit.simulator.routing import RequestContext, Route, Router, SimulatorApp
from shared.devkit.simulator.state import SimDirectoryRole, SimRiskyUser

__all__ = ["register"]

_UPDATABLE = frozenset({"accountEnabled"})


def register(router: Router) -> None:
    router.add(Route(method="POST", template="/users/{id}/revokeSignInSessions", handler=revoke_sign_in_sessions,
                     family=throttling.IDENTITY, replaceable=True))
    router.add(Route(method="PATCH", template="/users/{id}", handler=update_user, family=throttling.IDENTITY,
                     replaceable=True))
    router.add(Route(method="POST", template="/identityProtection/riskyUsers/confirmCompromised",
                     handler=confirm_compromised, family=throttling.IDENTITY_PROTECTION, replaceable=True))


def revoke_sign_in_sessions(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    key = context.params["id"]
    with app.state.lock:
        user = app.state.find_user(key)
        if user is None:
            return resource_not_found(context, key)
        user.sign_in_sessions_valid_from = context.ids.date
        app.state.record_write("revokeSignInSessions", user.id, context.ids.date)
    return json_response({"@odata.context": f"{context.service_root}/$metadata#Edm.Boolean", "value": True})


def update_user(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    key = context.params["id"]
    body = _json_object(context)
    if isinstance(body, GraphResponse):
        return body
    body = {name: value for name, value in body.items() if not name.startswith("@odata.")}
    unsupported = sorted(set(body) - _UPDATABLE)
    if unsupported:
        return graph_error(400, "Request_BadRequest",
                           f"The simulator cannot update '{unsupported[0]}'; only accountEnabled is supported.",
                           context.ids)
    enabled = body.get("accountEnabled")
    if "accountEnabled" in body and not isinstance(enabled, bool):
        return graph_error(400, "Request_BadRequest",
                           "Invalid value specified for property 'accountEnabled' of resource 'User'.", context.ids)
    with app.state.lock:
        user = app.state.find_user(key)
        if user is None:
            return resource_not_found(context, key)
        if isinstance(enabled, bool) and any(isinstance(c, SimDirectoryRole)
                                            for c in app.state.transitive_member_of(user.id)):
            # user-update, "Who can update sensitive properties": accountEnabled of a user holding an admin role
            # needs the caller to hold a higher privileged Entra role; an app role is not enough.
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.",
                               context.ids)
        if isinstance(enabled, bool):
            user.account_enabled = enabled
        app.state.record_write("updateUser", user.id, context.ids.date, **body)
    return GraphResponse(204)


def confirm_compromised(context: RequestContext, app: SimulatorApp) -> GraphResponse:
    body = _json_object(context)
    if isinstance(body, GraphResponse):
        return body
    ids = body.get("userIds")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        return graph_error(400, "BadRequest", "userIds must be a non-empty array of user ids.", context.ids)
    not_ids = [i for i in ids if not is_guid(i)]
    if not_ids:
        # riskyuser-confirmcompromised takes user object ids; the service's exact answer to a UPN is not documented.
        return graph_error(400, "BadRequest", f"Invalid user id '{not_ids[0]}': userIds must be object ids.",
                           context.ids)
    now = context.ids.date
    with app.state.lock:
        targets: list[SimRiskyUser] = []
        for user_id in ids:
            risky = app.state.risky_user(user_id)
            user = app.state.find_user(user_id)
            if risky is None and user is None:
                return graph_error(404, "ResourceNotFound", f"Resource '{user_id}' was not found.", context.ids)
            if risky is None and user is not None:
                risky = SimRiskyUser(id=user.id, user_principal_name=user.user_principal_name,
                                     user_display_name=user.display_name)
            if risky is not None:
                targets.append(risky)
        for risky in targets:
            if app.state.risky_user(risky.id) is None:
                app.state.set_risky_user(risky)
            risky.risk_level = "high"
            risky.risk_state = "confirmedCompromised"
            risky.risk_detail = "adminConfirmedUserCompromised"
            risky.risk_last_updated = now
            app.state.record_write("confirmCompromised", risky.id, now)
    return GraphResponse(204)


def _json_object(context: RequestContext) -> dict[str, object] | GraphResponse:
    try:
        body = json.loads(context.body or b"")
    except (ValueError, UnicodeDecodeError):
        return graph_error(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                           "header is set and payload is of valid JSON format.", context.ids)
    if not isinstance(body, dict):
        return graph_error(400, "BadRequest", "The request body must be a JSON object.", context.ids)
    return body
