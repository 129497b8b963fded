"""App metadata (appId, displayName, signInAudience) for the rules that depend on an app's audience.

It comes from Microsoft Graph in production and from ``--apps FILE`` offline: a
JSON list of ``servicePrincipal``-shaped objects, or a Graph collection page
(``{"value": [...]}``) as Graph returns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.core.errors import DataError

__all__ = ["PERSONAL_AUDIENCES", "AppCatalog", "AppInfo", "parse_apps", "read_apps_file"]

PERSONAL_AUDIENCES = frozenset({"AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"})
"""signInAudience values that admit Microsoft (personal) accounts."""


@dataclass(frozen=True, kw_only=True)
class AppInfo:
    app_id: str
    display_name: str
    sign_in_audience: str | None
    identifiers: tuple[str, ...]
    """The appId plus servicePrincipalNames: the values a token's aud may carry."""

    @property
    def admits_personal_accounts(self) -> bool:
        return self.sign_in_audience in PERSONAL_AUDIENCES


@dataclass(frozen=True, kw_only=True)
class AppCatalog:
    apps: tuple[AppInfo, ...]

    def parameter_values(self) -> dict[str, list[str]]:
        personal: set[str] = set()
        organizational: set[str] = set()
        for app in self.apps:
            if app.sign_in_audience is None:
                continue
            target = personal if app.admits_personal_accounts else organizational
            target.update(app.identifiers)
        return {"personal_account_apps": sorted(personal), "known_org_apps": sorted(organizational)}

    def by_app_id(self, app_id: str) -> AppInfo | None:
        lowered = app_id.lower()
        return next((app for app in self.apps if app.app_id.lower() == lowered), None)


def parse_apps(document: object, *, source: str) -> AppCatalog:
    items: object = document
    if isinstance(document, Mapping) and "value" in document:
        items = document["value"]
    if not isinstance(items, list):
        raise DataError("expected a JSON list of servicePrincipal objects", location=source)
    apps: list[AppInfo] = []
    for index, item in enumerate(items):
        where = f"{source}: [{index}]"
        if not isinstance(item, Mapping):
            raise DataError("entry is not an object", location=where)
        app_id = item.get("appId")
        if not isinstance(app_id, str) or not app_id:
            raise DataError("entry has no appId", location=where)
        audience = item.get("signInAudience")
        if audience is not None and not isinstance(audience, str):
            raise DataError("signInAudience is not a string", location=where)
        names = item.get("servicePrincipalNames") or []
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise DataError("servicePrincipalNames is not a list of strings", location=where)
        display = item.get("displayName")
        apps.append(AppInfo(
            app_id=app_id,
            display_name=display if isinstance(display, str) else app_id,
            sign_in_audience=audience,
            identifiers=tuple(dict.fromkeys([app_id, *names])),
        ))
    return AppCatalog(apps=tuple(apps))


def read_apps_file(path: Path) -> AppCatalog:
    from shared.core.jsonfile import read_json_file

    return parse_apps(read_json_file(path, "apps file"), source=str(path))


def merge_catalogs(catalogs: Iterable[AppCatalog]) -> AppCatalog:
    merged: dict[str, AppInfo] = {}
    for catalog in catalogs:
        for app in catalog.apps:
            merged[app.app_id.lower()] = app
    return AppCatalog(apps=tuple(merged.values()))
