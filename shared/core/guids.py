"""One spelling of "is this an Entra object id": a GUID, any case, with its hyphens."""

from __future__ import annotations

import re

__all__ = ["GUID", "is_guid"]

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str) -> bool:
    return GUID.match(value) is not None
