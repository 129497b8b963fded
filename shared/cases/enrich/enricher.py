"""Enrich many cases at once: gather every distinct user, app, IP and key, look each up once, then assemble.

Looking subjects up across cases (rather than case by case) is what makes a
1,000-user incident cost a few dozen Graph batches instead of thousands of
calls; the per-run cache inside :class:`GraphDirectory` does the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.cases.enrich.graph import GraphDirectory
from shared.cases.enrich.ip import lookup_ips
from shared.cases.enrich.keys import lookup_keys
from shared.cases.enrich.models import AppFacts, CaseEnrichment, IpFacts, KeyFacts, UserFacts, combined_privilege
from shared.cases.policy.model import TriageInput
from shared.detect.findings import Finding
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import LogSource

__all__ = ["Subjects", "enrich_cases", "subjects_of", "triage_input"]

_RISK_ORDER = ("none", "hidden", "low", "medium", "high")


@dataclass(frozen=True, kw_only=True)
class Subjects:
    users: frozenset[str]
    apps: frozenset[str]
    ips: frozenset[str]
    keys: frozenset[str]


def subjects_of(findings: Iterable[Finding]) -> Subjects:
    users, apps, ips, keys = set(), set(), set(), set()
    for finding in findings:
        user = finding.user_object_id or finding.user_upn
        if user:
            users.add(user.lower())
        if finding.app_id:
            apps.add(finding.app_id.lower())
        if finding.ip_address:
            ips.add(finding.ip_address)
        if finding.key_id:
            keys.add(finding.key_id)
    return Subjects(users=frozenset(users), apps=frozenset(apps), ips=frozenset(ips), keys=frozenset(keys))


async def _directory_lookups(directory: GraphDirectory, users: set[str], apps: set[str],
                             ) -> tuple[dict[str, UserFacts], dict[str, AppFacts]]:
    found_users, found_apps = await asyncio.gather(directory.users(users), directory.apps(apps))
    return found_users, found_apps


def enrich_cases(
    cases: Mapping[str, Sequence[Finding]],
    *,
    directory: GraphDirectory | None,
    source: LogSource | None,
    keys: KeyIntelligence,
    as_of: datetime,
) -> dict[str, CaseEnrichment]:
    """Enrichment per case id; a failed lookup is noted on the case (``degraded``) and never raised."""
    subjects = {case_id: subjects_of(findings) for case_id, findings in cases.items()}
    all_users = set().union(*(s.users for s in subjects.values())) if subjects else set()
    all_apps = set().union(*(s.apps for s in subjects.values())) if subjects else set()
    all_ips = set().union(*(s.ips for s in subjects.values())) if subjects else set()
    all_keys = set().union(*(s.keys for s in subjects.values())) if subjects else set()

    users: dict[str, UserFacts] = {}
    apps: dict[str, AppFacts] = {}
    directory_problem: str | None = None
    if directory is None:
        directory_problem = "Microsoft Graph is not configured; user and app facts are unknown"
    elif all_users or all_apps:
        try:
            users, apps = asyncio.run(_directory_lookups(directory, all_users, all_apps))
        except Exception as exc:  # the whole directory being unreachable degrades every case, fails none
            directory_problem = f"Microsoft Graph lookups failed: {' '.join(str(exc).split())[:300]}"
    ips: dict[str, IpFacts] = {}
    if source is not None and all_ips:
        ips = {facts.ip: facts for facts in lookup_ips(source, all_ips, as_of=as_of)}
    key_facts: dict[str, KeyFacts] = {facts.key_id: facts for facts in lookup_keys(keys, all_keys)}

    result: dict[str, CaseEnrichment] = {}
    for case_id, subject in subjects.items():
        degraded: list[str] = []
        if directory_problem and (subject.users or subject.apps):
            degraded.append(directory_problem)
        case_users = tuple(users[u] for u in sorted(subject.users) if u in users)
        case_apps = tuple(apps[a] for a in sorted(subject.apps) if a in apps)
        degraded.extend(f"user {u.key}: {u.error}" for u in case_users if u.status == "failed" or u.error)
        degraded.extend(f"app {a.app_id}: {a.error}" for a in case_apps if a.status == "failed")
        case_ips = tuple(ips.get(ip) or IpFacts(ip=ip, classification="unknown",
                                                error="the workspace was not queried") for ip in sorted(subject.ips))
        degraded.extend(f"ip {f.ip}: {f.error}" for f in case_ips if f.error)
        result[case_id] = CaseEnrichment(users=case_users, apps=case_apps, ips=case_ips,
                                         keys=tuple(key_facts[k] for k in sorted(subject.keys)),
                                         degraded=tuple(dict.fromkeys(degraded)))
    return result


def triage_input(findings: Sequence[Finding], enrichment: CaseEnrichment | None) -> TriageInput:
    """The facts the triage policy may see; unknowns stay None so conditions on them do not match."""
    privileged: bool | None = None
    risk: str | None = None
    ti: bool | None = None
    audiences: set[str] = set()
    if enrichment is not None:
        privileged = combined_privilege(user.privileged for user in enrichment.users if user.status != "not_found")
        levels = [user.risk_level for user in enrichment.users if user.risk_level in _RISK_ORDER]
        risk = max(levels, key=_RISK_ORDER.index) if levels else None
        audiences = {app.sign_in_audience for app in enrichment.apps if app.sign_in_audience}
        matches = [ip.ti_matches for ip in enrichment.ips if ip.ti_matches is not None]
        ti = any(m > 0 for m in matches) if matches else None
    return TriageInput(rule_ids=frozenset(f.rule_id for f in findings), finding_count=len(findings),
                       privileged_user=privileged, risk_level=risk, app_audiences=frozenset(audiences), ti_match=ti)
