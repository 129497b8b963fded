"""IP and key enrichment from the workspace and key intelligence, and the facts the triage policy sees."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.cases.enrich.enricher import enrich_cases, subjects_of, triage_input
from shared.cases.enrich.ip import classify_ip, lookup_ips
from shared.cases.enrich.keys import lookup_keys
from shared.cases.enrich.models import CaseEnrichment, RoleFact, UserFacts
from shared.detect.findings import Finding
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.keys.jwks import read_jwks_file
from shared.detect.logsources.local import LocalWorkspace
from tools.kusto_check import REPO_ROOT, check_queries, load_schemas

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STORM_IP = "195.26.87.219"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from shared.devkit.demo_data.generate import generate_demo_data

    folder = tmp_path_factory.mktemp("enrich")
    generate_demo_data(folder, users=12, days=2, seed=9, end=END)
    return folder


@pytest.fixture(scope="module")
def workspace(demo: Path):  # type: ignore[no-untyped-def]
    source = LocalWorkspace.from_exports(demo)
    yield source
    source.close()


@pytest.mark.parametrize(("ip", "expected"), [
    ("10.1.2.3", "private"), ("192.168.0.1", "private"), ("127.0.0.1", "loopback"), ("169.254.1.1", "link-local"),
    ("100.64.0.1", "reserved"), ("224.0.0.1", "multicast"), ("8.8.8.8", "public"), ("[2001:db8::1]", "private"),
    ("2606:4700::1111", "public"), ("not-an-ip", "invalid"),
])
def test_ip_classification(ip: str, expected: str) -> None:
    assert classify_ip(ip) == expected


def test_ti_match_and_geolocation_come_from_the_workspace(workspace: LocalWorkspace, demo: Path) -> None:
    import json

    user_ip = json.loads((demo / "SigninLogs.jsonl").read_text().splitlines()[0])["IPAddress"]
    facts = {f.ip: f for f in lookup_ips(workspace, [STORM_IP, user_ip, "10.0.0.8"], as_of=END)}
    assert facts[STORM_IP].ti_matches == 1
    assert facts[STORM_IP].threat_types == ("WatchList",)
    assert facts[user_ip].ti_matches == 0
    assert (facts[user_ip].country, facts[user_ip].city) == ("NL", "Amsterdam")
    assert facts["10.0.0.8"].classification == "private" and facts["10.0.0.8"].ti_matches is None


def test_an_unreadable_workspace_degrades_ip_facts_instead_of_raising(tmp_path: Path) -> None:
    (tmp_path / "ThreatIntelligenceIndicator.jsonl").write_text('{"TimeGenerated": "2026-11-19T00:00:00Z"}\n')
    source = LocalWorkspace.from_exports(tmp_path)
    source.close()  # a closed source fails every query
    facts = lookup_ips(source, [STORM_IP], as_of=END)
    assert facts[0].ti_matches is None and facts[0].error


def test_key_facts(demo: Path) -> None:
    intel = KeyIntelligence(published=read_jwks_file(demo / "jwks" / "organizations.json"),
                            compromised=load_compromised_keys())
    by_id = {f.key_id: f for f in lookup_keys(intel, ["1LTMzakihiRla_8z2BEJVXeWMqo", intel.published[0].kid])}
    storm_facts = by_id["1LTMzakihiRla_8z2BEJVXeWMqo"]
    assert storm_facts.compromised == "Storm-0558 Microsoft-account signing key"
    assert storm_facts.published_by == ()
    assert storm_facts.certificate_not_after == datetime(2021, 4, 4, 14, 43, 35, tzinfo=UTC)
    ours = by_id[intel.published[0].kid]
    assert ours.compromised is None and ours.published_by and ours.certificate_not_before is not None


def _finding(**overrides: object) -> Finding:
    base: dict[str, object] = {
        "rule_id": "compromised-signing-key", "rule_title": "t", "severity": "High", "first_seen": END,
        "last_seen": END, "count": 1, "user_upn": "a@contoso.example", "user_object_id": None, "app_id": "APP-1",
        "ip_address": STORM_IP, "key_id": "1LTMzakihiRla_8z2BEJVXeWMqo", "token_id": "t1", "issuer": None,
        "tenant_id": None, "source_table": "TokenValidation_CL", "evidence": {},
    }
    return Finding(**{**base, **overrides})  # type: ignore[arg-type]


def test_subjects_prefer_the_object_id_and_lower_case() -> None:
    subjects = subjects_of([_finding(user_object_id="OID-1"), _finding(user_object_id=None)])
    assert subjects.users == {"oid-1", "a@contoso.example"}
    assert subjects.apps == {"app-1"}


def test_without_graph_cases_are_degraded_not_failed(workspace: LocalWorkspace) -> None:
    intel = KeyIntelligence(published=(), compromised=load_compromised_keys())
    result = enrich_cases({"case-1": [_finding()]}, directory=None, source=workspace, keys=intel, as_of=END)
    enrichment = result["case-1"]
    assert "Microsoft Graph is not configured" in enrichment.degraded[0]
    assert enrichment.ips[0].ti_matches == 1
    assert enrichment.keys[0].compromised
    facts = triage_input([_finding()], enrichment)
    assert facts.privileged_user is None and facts.ti_match is True


def test_triage_input_reads_roles_and_the_highest_risk() -> None:
    admin = UserFacts(key="a", status="ok", roles=(RoleFact(display_name="Global Administrator",
                                                            role_template_id="62e90394-69f5-4237-9190-012177145e10",
                                                            privileged=True),), risk_level="low")
    other = UserFacts(key="b", status="ok", risk_level="high")
    facts = triage_input([_finding(), _finding(rule_id="token-without-sign-in")],
                         CaseEnrichment(users=(admin, other)))
    assert facts.privileged_user is True and facts.risk_level == "high" and facts.finding_count == 2
    assert facts.rule_ids == {"compromised-signing-key", "token-without-sign-in"}
    assert facts.ti_match is None


def test_enrichment_queries_pass_the_kusto_language_service() -> None:
    folder = REPO_ROOT / "shared" / "cases" / "enrich" / "queries"
    queries = {path.stem: path.read_text() for path in folder.glob("*.kql")}
    assert set(queries) == {"threat_intel", "geolocation"}
    results = check_queries(load_schemas(REPO_ROOT / "shared" / "schemas"), queries)
    for name, result in results.items():
        assert result.diagnostics == (), (name, result.diagnostics)
