"""Who a finding is about, which findings are the same, and the deterministic case id."""

from __future__ import annotations

import re

import pytest

from shared.cases.principal import Principal, case_id, case_subject, finding_identity, own_principal, upn_alias
from tests.support.findings import make_finding

OID = "6F1C2A9B-0000-4000-8000-0000000000AA"


def test_the_user_object_id_wins_and_is_lower_cased() -> None:
    finding = make_finding(oid=OID, upn="Alice@Contoso.com", token="t1")
    assert case_subject(finding) == Principal("user", OID.lower())


def test_without_an_object_id_the_upn_names_the_user() -> None:
    assert case_subject(make_finding(upn=" Alice@Contoso.COM ", token="t1")) == Principal("upn", "alice@contoso.com")


def test_an_app_only_graph_call_is_its_service_principal_not_its_app_id() -> None:
    finding = make_finding(token="t1", app_id="APP-1", evidence={"service_principal_id": "SP-9"},
                           rule_id="token-without-sign-in")
    assert case_subject(finding) == Principal("service-principal", "sp-9")


def test_the_resource_app_id_never_groups_findings() -> None:
    # TokenValidation_CL's AppId is the API that validated the token: two victims, one API, two cases.
    first, second = make_finding(token="t1", app_id="api"), make_finding(token="t2", app_id="api")
    assert case_subject(first) == Principal("token", "t1")
    assert case_subject(first) != case_subject(second)


def test_a_finding_naming_nobody_and_no_token_is_its_own_case() -> None:
    finding = make_finding(token=None, app_id="a", ip="1.2.3.4")
    subject = case_subject(finding)
    assert subject.kind == "finding"
    assert subject == case_subject(make_finding(token=None, app_id="a", ip="1.2.3.4"))
    assert own_principal(finding) is None


def test_an_alias_ties_a_upn_to_the_object_id_only_when_both_are_present() -> None:
    assert upn_alias(make_finding(oid=OID, upn="Alice@x.com")) == (Principal("upn", "alice@x.com"),
                                                                   Principal("user", OID.lower()))
    assert upn_alias(make_finding(upn="alice@x.com")) is None
    assert upn_alias(make_finding(oid=OID)) is None


def test_identity_is_rule_and_token() -> None:
    a = finding_identity(make_finding(token="t1", ip="1.1.1.1", oid="u1"))
    b = finding_identity(make_finding(token="t1", ip="2.2.2.2", oid="u2", count=9))
    c = finding_identity(make_finding(token="t1", rule_id="unpublished-signing-key"))
    assert a == b
    assert a != c
    assert re.fullmatch(r"[0-9a-f]{32}", a.row_key)
    assert a.ref == f"compromised-signing-key:{a.row_key}"


def test_without_a_token_identity_is_rule_principal_app_and_ip() -> None:
    def mail(**kw: str) -> object:
        base = {"upn": "alice@x.com", "app_id": "APP", "ip": "1.1.1.1"}
        base.update(kw)
        return finding_identity(make_finding(rule_id="mail-access-by-unexpected-app", token=None, **base))

    assert mail() == mail(app_id="app")  # app ids compare case-insensitively
    assert mail() != mail(ip="2.2.2.2")
    assert mail() != mail(app_id="other")
    assert mail() != mail(upn="bob@x.com")


def test_case_ids_are_deterministic_per_principal_and_generation() -> None:
    alice = Principal("user", "u1")
    assert case_id(alice, 1) == case_id(Principal("user", "u1"), 1)
    assert case_id(alice, 1) != case_id(alice, 2)
    assert case_id(alice, 1) != case_id(Principal("upn", "u1"), 1)
    assert re.fullmatch(r"case-usr-[0-9a-f]{20}-1", case_id(alice, 1))
    with pytest.raises(ValueError, match="generation starts at 1"):
        case_id(alice, 0)


def test_absurdly_long_identifiers_are_kept_as_a_hash() -> None:
    subject = case_subject(make_finding(token="x" * 5000))
    assert subject.value.startswith("sha256:") and len(subject.value) < 100


def test_a_microsoft_detection_is_identified_by_its_own_id() -> None:
    # Two ID Protection detections about one user and address stay two findings; one re-sent stays one.
    first = make_finding(token=None, oid="u1", ip="1.1.1.1", rule_id="token-risk-detection",
                         evidence={"detection_id": "det-1", "risk_state": "atRisk"})
    resent = make_finding(token=None, oid="u1", ip="1.1.1.1", rule_id="token-risk-detection",
                          evidence={"detection_id": "det-1", "risk_state": "confirmedCompromised"})
    other = make_finding(token=None, oid="u1", ip="1.1.1.1", rule_id="token-risk-detection",
                         evidence={"detection_id": "det-2"})
    assert finding_identity(first) == finding_identity(resent)
    assert finding_identity(first) != finding_identity(other)
    assert finding_identity(first).parts == ("detection", "det-1")
