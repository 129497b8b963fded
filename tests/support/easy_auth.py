"""Requests as App Service authentication (Easy Auth) hands them to the app: the client principal headers.

The shape is Microsoft's (MicrosoftDocs/azure-docs
``articles/app-service/configure-authentication-user-identities.md``):
``X-MS-CLIENT-PRINCIPAL`` is Base64 JSON ``{auth_typ, claims: [{typ, val}], name_typ, role_typ}``, next to
``X-MS-CLIENT-PRINCIPAL-ID``, ``-NAME`` and ``-IDP``. Roles arrive as ``roles`` claims (Entra, "Add app roles and
get them from a token").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

APPROVER_ROLE = "Tokenwarden.Approver"
ROLE_TYPE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
NAME_TYPE = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


def principal_headers(name: str, *, object_id: str = "6a1c4c1e-0000-4000-8000-00000000a0a0",
                      roles: Sequence[str] = (APPROVER_ROLE,), role_claim: str = "roles") -> dict[str, str]:
    """The headers Easy Auth sets for a signed-in Entra user holding *roles*."""
    claims = [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id},
              {"typ": "preferred_username", "val": name}, {"typ": "name", "val": name},
              *({"typ": role_claim, "val": role} for role in roles)]
    payload = {"auth_typ": "aad", "claims": claims, "name_typ": NAME_TYPE, "role_typ": ROLE_TYPE}
    return {"X-MS-CLIENT-PRINCIPAL": base64.b64encode(json.dumps(payload).encode()).decode(),
            "X-MS-CLIENT-PRINCIPAL-ID": object_id, "X-MS-CLIENT-PRINCIPAL-NAME": name,
            "X-MS-CLIENT-PRINCIPAL-IDP": "aad"}
