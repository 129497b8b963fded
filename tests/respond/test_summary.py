"""The run summary: a Sentinel comment that escapes everything from the directory and logs and fits under 30,000
characters, and the webhook card."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.cases.model import Case, Transition
from shared.cases.principal import Principal
from shared.detect.findings import Finding
from shared.respond.engine import StepOutcome
from shared.respond.summary import MAX_COMMENT_CHARS, escape_text, render_comment, render_notification

START = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
USER = "6f1c1e0a-2d7a-4a39-9a53-0c5d6f0b1a11"
HOSTILE = "<img src=x onerror=alert(1)>"
MARKDOWN = "[click me](javascript:alert(1)) ![x](https://evil.example/p.png)"
ALLOWED_TAGS = {"h3", "h4", "p", "b", "ul", "li", "table", "tr", "th", "td"}


def make_case(**overrides: Any) -> Case:
    fields: dict[str, Any] = {
        "case_id": "case-usr-0123456789abcdef0123-1", "principal": Principal("user", USER), "generation": 1,
        "state": "responding", "severity": "High", "first_seen": START, "last_seen": START + timedelta(minutes=10),
        "created_at": START, "updated_at": START, "rule_ids": ("compromised-signing-key",),
        "finding_refs": ("compromised-signing-key:abc",), "more_findings": False, "token_ids": ("tok-1",),
        "user_upns": ("adele@contoso.example",),
        "transitions": (Transition(at=START, from_state=None, to_state="new", reason="found by scan"),),
        "enrichment": {
            "users": [{"key": USER, "status": "ok", "id": USER, "user_principal_name": MARKDOWN,
                       "display_name": HOSTILE, "account_enabled": True, "user_type": "Member",
                       "job_title": "**CEO**\n\n# pwned\n<script>alert(2)</script>", "department": "Finance",
                       "roles": [{"display_name": "Global Administrator <b>", "role_template_id": "62e9",
                                  "privileged": True}],
                       "risk_level": "high", "risk_state": "atRisk", "privileged": True}],
            "apps": [{"app_id": "00000002-0000-0ff1-ce00-000000000000", "status": "ok",
                      "display_name": "Office 365 Exchange Online", "sign_in_audience": "AzureADMultipleOrgs"}],
            "ips": [{"ip": "195.26.87.219", "classification": "public", "ti_matches": 2,
                     "threat_types": ["Storm-0558 <i>"], "country": "NL"}],
            "keys": [{"key_id": "1LTMzakihiRla_8z2BEJVXeWMqo", "published_by": [],
                      "compromised": "Storm-0558 MSA key"}],
            "degraded": ["riskyUsers lookup failed: <503>"],
        },
        "decision": {"severity": "High", "playbook": "contain-user", "matched": "compromised key",
                     "reason": "rule compromised-signing-key"},
    }
    fields.update(overrides)
    return Case(**fields)


def make_finding(index: int, **overrides: Any) -> Finding:
    fields: dict[str, Any] = {
        "rule_id": "compromised-signing-key", "rule_title": "Compromised key", "severity": "High",
        "first_seen": START + timedelta(seconds=index), "last_seen": START + timedelta(seconds=index + 1),
        "count": 1, "user_upn": f"user{index}@contoso.example", "user_object_id": USER,
        "app_id": "00000002-0000-0ff1-ce00-000000000000", "ip_address": "195.26.87.219",
        "key_id": "1LTMzakihiRla_8z2BEJVXeWMqo", "token_id": f"token-{index}", "issuer": None, "tenant_id": None,
        "source_table": "TokenValidation_CL", "evidence": {},
    }
    fields.update(overrides)
    return Finding(**fields)


def assert_inert(message: str) -> None:
    tags = {name.lower() for name in re.findall(r"</?([A-Za-z][A-Za-z0-9]*)", message)}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    for bad in ("<img", "<script", "javascript:", "](", "![", "\n", "**", "# "):
        assert bad not in message, bad
    # every & starts one whole numeric character reference: nothing was cut inside an entity
    assert all(re.match(r"&#\d+;", message[i:]) for i in range(len(message)) if message[i] == "&")


def test_hostile_directory_values_are_inert_in_the_comment() -> None:
    outcomes = [StepOutcome(step="disable_user", target=USER, phase="failed", detail={"error": "<b>403</b>"})]
    message = render_comment(make_case(), outcomes, run_id="run-1", findings=[make_finding(1, user_upn=HOSTILE)])
    assert_inert(message)
    assert escape_text(HOSTILE, limit=200) in message  # shown, as text
    assert "Global Administrator" in message and "(privileged)" in message


def test_escape_text_clips_between_entities() -> None:
    clipped = escape_text("<" * 100, limit=50)
    assert len(clipped) <= 50 and clipped.endswith("…")
    assert clipped.removesuffix("…") == "&#60;" * 9
    assert escape_text("a\u202eb\nc\u200bd") == "a b c d"  # bidi override, newline, zero-width space


def test_five_thousand_findings_fit_under_the_comment_limit() -> None:
    findings = [make_finding(i, user_upn=f"{HOSTILE}{i}") for i in range(5000)]
    case = make_case(finding_refs=tuple(f"compromised-signing-key:{i}" for i in range(5000)))
    message = render_comment(case, run_id="run-1", findings=findings)
    assert len(message) < MAX_COMMENT_CHARS
    assert_inert(message)
    shown = message.count("<tr><td>compromised&#45;signing&#45;key</td>")
    more = re.search(r"… and (\d+) more", message)
    assert more is not None and shown + int(more.group(1)) == 5000
    assert "Findings (5000)" in message


def test_a_small_budget_shrinks_every_list_but_keeps_the_counts() -> None:
    findings = [make_finding(i) for i in range(300)]
    message = render_comment(make_case(), run_id="r", findings=findings, budget=4000)
    assert len(message) < 4000
    assert "… and" in message and "Findings (300)" in message


def test_refusals_and_holds_say_why() -> None:
    refused = "protected principal (adele@contoso.example) is listed in PROTECTED_PRINCIPALS and is never actioned"
    outcomes = [StepOutcome(step="disable_user", target=USER, phase="refused", detail={"reason": refused}),
                StepOutcome(step="revoke_sessions", target=USER, phase="planned",
                            detail={"reason": "blast radius: 5 principals this hour (limit 5)"})]
    message = render_comment(make_case(state="awaiting_approval"), outcomes, run_id="r", reason=refused)
    assert "Not actioned, and why" in message
    assert escape_text(refused, limit=1200) in message
    assert escape_text("blast radius: 5 principals this hour (limit 5)", limit=400) in message
    assert "<b>refused</b>" in message


def test_the_teams_card_is_an_adaptive_card_message() -> None:
    outcomes = [StepOutcome(step="revoke_sessions", target=USER, phase="succeeded", detail={"changed": True})]
    payload = render_notification(make_case(), outcomes, reason="automatic response: 1 step(s) done",
                                  incident={"incident_number": 7})
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Sentinel incident"] == "7" and facts["Severity"] == "High"


def test_the_json_payload_is_flat() -> None:
    outcomes = [StepOutcome(step="disable_user", target=USER, phase="refused", detail={"reason": "protected"})]
    payload = render_notification(make_case(), outcomes, reason="protected", style="json")
    assert {"title", "text", "case_id", "severity", "state", "actions"} <= set(payload)
    assert payload["actions"] == [{"step": "disable_user", "target": USER, "phase": "refused", "detail": "protected"}]
    assert payload["refusals"] == [f"disable_user on {USER}: refused (protected)"]
