"""The shipped triage policy's decisions on a table of cases, and malformed policies refused with their location."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.cases.policy.loader import load_policy, load_policy_text
from shared.cases.policy.model import TriageInput
from shared.core.errors import ConfigurationError

KNOWN = ("compromised-signing-key", "token-without-sign-in", "mail-access-by-unexpected-app")
POLICY = load_policy()


def case(*rules: str, count: int = 1, **extra: object) -> TriageInput:
    return TriageInput(rule_ids=frozenset(rules), finding_count=count, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(("triage_input", "severity", "playbook", "matched"), [
    (case("compromised-signing-key"), "High", "contain-identity", "compromised-key-in-use"),
    (case("mail-access-by-unexpected-app", privileged_user=True), "High", "contain-identity",
     "privileged-user-any-finding"),
    (case("token-without-sign-in", ti_match=True), "High", "contain-identity", "known-bad-infrastructure"),
    (case("token-without-sign-in", risk_level="high"), "High", "contain-identity", "risky-user-any-finding"),
    (case("token-without-sign-in", risk_level="low"), "Low", "investigate", "default"),
    (case("consumer-key-for-org-app"), "High", "revoke-and-refresh", "app-accepted-an-untrusted-token"),
    (case("unpublished-signing-key", privileged_user=False), "High", "revoke-and-refresh",
     "app-accepted-an-untrusted-token"),
    (case("mail-access-by-unexpected-app"), "Medium", "revoke-sessions", "unexpected-mail-access"),
    (case("token-without-sign-in", count=3), "Medium", "revoke-sessions", "forged-looking-token"),
    (case("token-without-sign-in", count=2), "Low", "investigate", "default"),
    # Issue 14: one Exchange/SharePoint read with a token no sign-in issued, or one replayed token, is enough.
    (case("office-token-without-sign-in"), "High", "revoke-sessions", "exchange-or-sharepoint-token-without-sign-in"),
    (case("token-replay-from-another-network"), "High", "revoke-sessions", "token-replayed-from-another-network"),
    (case("token-replay-from-another-network", privileged_user=True), "High", "contain-identity",
     "privileged-user-any-finding"),
    (case("session-replay-from-another-network"), "High", "revoke-sessions", "token-replayed-from-another-network"),
    # Unknown enrichment never matches: a failed lookup cannot promote or demote by accident.
    (case("implausible-token-lifetime", count=5, privileged_user=None, ti_match=None), "Medium",
     "revoke-sessions", "forged-looking-token"),
])
def test_default_policy_decisions(triage_input: TriageInput, severity: str, playbook: str, matched: str) -> None:
    decision = POLICY.decide(triage_input)
    assert (decision.severity, decision.playbook, decision.matched) == (severity, playbook, matched)


def test_decision_names_the_rule_and_its_line() -> None:
    decision = POLICY.decide(case("compromised-signing-key"))
    assert re.search(r"'compromised-key-in-use' \(shared/data/policy\.yaml:\d+\)", decision.reason)


def test_every_triage_rule_can_fire_on_some_case() -> None:
    """A rule shadowed by the ones above it is dead policy."""
    reachable = set()
    for rule in POLICY.rules:
        when = rule.when
        probe = TriageInput(
            rule_ids=frozenset(sorted(when.rules)[:1]) if when.rules else frozenset({"token-without-sign-in"}),
            finding_count=when.min_count or 1,
            privileged_user=when.privileged_user,
            risk_level=sorted(when.risk_levels)[0] if when.risk_levels else None,
            ti_match=when.ti_match,
        )
        reachable.add(POLICY.decide(probe).matched)
    assert reachable == {rule.name for rule in POLICY.rules}


GOOD = """\
version: 1
playbooks:
  investigate: {description: look at it, steps: [sentinel_incident]}
triage:
  - name: r1
    when: {rule: compromised-signing-key}
    severity: High
    playbook: investigate
default: {severity: Low, playbook: investigate}
"""


def test_a_json_policy_loads_too() -> None:
    document = {
        "version": 1, "playbooks": {"investigate": {"description": "look", "steps": ["sentinel_incident"]}},
        "triage": [{"name": "r", "when": {"min_count": 2}, "severity": "Medium", "playbook": "investigate"}],
        "default": {"severity": "Low", "playbook": "investigate"},
    }
    policy = load_policy_text(json.dumps(document, indent=1), source="p.json", known_rules=KNOWN)
    assert policy.decide(case("token-without-sign-in", count=2)).severity == "Medium"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("severity: High", "severity: Critical", r"p\.yaml:7:15: triage\[0\]\.severity: 'Critical' is not one of"),
    ("rule: compromised-signing-key", "rule: compromised-key",
     r"p\.yaml:6:18: triage\[0\]\.when\.rule: 'compromised-key'"),
    ("playbook: investigate\ndefault", "playbook: contain\ndefault", r"p\.yaml:8:15: .*unknown playbook 'contain'"),
    ("when: {rule", "whenever: {rule", r"p\.yaml:6:5: triage\[0\]: unknown key 'whenever'"),
    ("version: 1", "version: 2", r"p\.yaml:1:10: version: only version 1"),
    ("{rule: compromised-signing-key}", "{risk_level: extreme}", r"risk_level: 'extreme' is not one of"),
    ("{rule: compromised-signing-key}", "{min_count: 0}", r"min_count: expected a whole number"),
    ("{rule: compromised-signing-key}", "{}", r"needs at least one condition"),
    ("  - name: r1", "  - name: r1\n    name: r2", r"p\.yaml:6:5: triage\[0\]: duplicate key 'name'"),
    ("triage:", "triage: [\n", r"p\.yaml:\d+:\d+: not valid YAML or JSON"),
])
def test_malformed_policies_are_refused_with_their_location(old: str, new: str, message: str) -> None:
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    with pytest.raises(ConfigurationError, match=message):
        load_policy_text(text, source="p.yaml", known_rules=KNOWN)


def test_the_good_policy_loads() -> None:
    assert load_policy_text(GOOD, source="p.yaml", known_rules=KNOWN).rules[0].name == "r1"


def test_unreadable_policy_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing\.yaml: cannot read policy file"):
        load_policy(tmp_path / "missing.yaml", known_rules=KNOWN)


def test_shipped_playbooks_name_known_steps_with_conditions_where_given() -> None:
    contain = POLICY.playbooks["contain-identity"]
    assert [step.name for step in contain.steps][:3] == ["revoke_sessions", "confirm_compromised", "disable_user"]
    assert all(step.location.startswith("shared/data/policy.yaml:") for step in contain.steps)


@pytest.mark.parametrize(("steps", "message"), [
    ("[revoke_session]", r"unknown step 'revoke_session'"),
    # A registered step that no playbook may name (only the key jobs run it); the message lists the registry's.
    ("[publish_untrusted_keys]", r"unknown step 'publish_untrusted_keys'; steps are revoke_sessions, "
                                 r"confirm_compromised, disable_user, refresh_app_key_cache, sentinel_incident, "
                                 r"notify"),
    ("[]", r"a playbook needs at least one step"),
    ("[sentinel_incident, sentinel_incident]", r"step 'sentinel_incident' appears twice"),
    ("[{when: {ti_match: true}}]", r"missing 'step'"),
    ("[{step: notify, with: [1]}]", r"expected a mapping of step options"),
    ("[{step: disable_user, when: {privileged_user: maybe}}]", r"expected true or false"),
])
def test_malformed_playbooks_are_refused(steps: str, message: str) -> None:
    text = GOOD.replace("steps: [sentinel_incident]", f"steps: {steps}")
    with pytest.raises(ConfigurationError, match=message):
        load_policy_text(text, source="p.yaml", known_rules=KNOWN)


def test_a_step_with_conditions_and_options_loads() -> None:
    text = GOOD.replace("steps: [sentinel_incident]",
                        "steps: [{step: disable_user, when: {privileged_user: false}, with: {dry_run: true}}]")
    step = load_policy_text(text, source="p.yaml", known_rules=KNOWN).playbooks["investigate"].steps[0]
    assert step.when is not None and step.when.privileged_user is False
    assert step.options == {"dry_run": True}
