"""IP context: address class from the standard library, threat intelligence and geolocation from the workspace.

Both workspace lookups are rule-like KQL files run through the same log source
as detection, with the addresses passed as a parameter, so they work on Log
Analytics and on exported logs alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from importlib import resources

from shared.cases.enrich.models import IpFacts
from shared.core.errors import QueryError, UpstreamError
from shared.detect.logsources.base import CompleteResult, LogSource, TimeRange

__all__ = ["classify_ip", "lookup_ips"]


def classify_ip(text: str) -> str:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return "invalid"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved or address.is_unspecified or not address.is_global:
        return "reserved"
    return "public"


def _query(name: str) -> str:
    return resources.files("shared.cases.enrich").joinpath(f"queries/{name}.kql").read_text(encoding="utf-8")


def _rows(
    source: LogSource, name: str, parameters: Mapping[str, object], timespan: TimeRange
) -> list[dict[str, object]]:
    outcome = source.query(_query(name), parameters=parameters, timespan=timespan, label=f"enrich:{name}")
    table = outcome.table if isinstance(outcome, CompleteResult) else outcome.partial_table
    return table.records()


def lookup_ips(
    source: LogSource, ips: Collection[str], *, as_of: datetime,
    ti_lookback: timedelta = timedelta(days=365), geo_lookback: timedelta = timedelta(days=7),
) -> list[IpFacts]:
    """Facts for each address; workspace failures are recorded on the facts, never raised."""
    addresses = sorted({ip for ip in ips if ip})
    public = [ip for ip in addresses if classify_ip(ip) == "public"]
    ti: dict[str, dict[str, object]] = {}
    geo: dict[str, dict[str, object]] = {}
    errors: list[str] = []
    if public:
        for name, target, lookback, extra in (
            ("threat_intel", ti, ti_lookback, {}),
            ("geolocation", geo, geo_lookback, {"lookback": geo_lookback}),
        ):
            try:
                rows = _rows(source, name, {"ips": public, "as_of": as_of, **extra},
                             TimeRange(start=as_of - lookback, end=as_of + timedelta(seconds=1)))
            except (QueryError, UpstreamError) as exc:
                errors.append(f"{name}: {exc}")
                continue
            target.update({str(row["Ip"]): row for row in rows})
    facts = []
    for ip in addresses:
        match, place = ti.get(ip), geo.get(ip)
        looked_up = ip in public and not errors
        facts.append(IpFacts(
            ip=ip,
            classification=classify_ip(ip),
            ti_matches=int(str(match["Matches"])) if match else (0 if looked_up else None),
            threat_types=tuple(str(t) for t in (match or {}).get("ThreatTypes") or ()),  # type: ignore[attr-defined]
            ti_descriptions=tuple(str(t) for t in (match or {}).get("Descriptions") or ()),  # type: ignore[attr-defined]
            country=str(place["Country"]) if place and place.get("Country") else None,
            city=str(place["City"]) if place and place.get("City") else None,
            error="; ".join(errors) if ip in public and errors else None,
        ))
    return facts
