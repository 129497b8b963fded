"""Invariants over every shipped rule, and guards that show the loader refuses bad rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from shared.core.errors import RuleError
from shared.detect.hunt import HuntContext
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.ruleset import RULE_ID_PATTERN, load_rules

SCHEMAS = Path(__file__).resolve().parents[3] / "shared" / "schemas"
EXPECTED_RULES = {
    "compromised-signing-key", "unpublished-signing-key", "consumer-key-for-org-app", "issuer-tenant-mismatch",
    "token-without-sign-in", "implausible-token-lifetime", "mail-access-by-unexpected-app",
}


def test_the_seven_rules_ship() -> None:
    assert set(load_rules().ids) == EXPECTED_RULES


def test_every_rule_reads_only_tables_with_a_schema() -> None:
    known = {path.stem for path in SCHEMAS.glob("*.json")}
    for rule in load_rules():
        assert set(rule.meta.tables) <= known, rule.id


def test_every_value_the_hunt_supplies_is_declared_by_some_rule() -> None:
    """A typo in a parameter name would silently leave the rule on its default."""
    context = HuntContext(keys=KeyIntelligence(published=(), compromised=load_compromised_keys()))
    supplied, _ = context.values()
    declared = set().union(*(rule.parameter_names for rule in load_rules()))
    assert set(supplied) <= declared


def test_rule_id_pattern_rejects_bad_names() -> None:
    assert RULE_ID_PATTERN.match("token-without-sign-in")
    for bad in ("Token-Rule", "token_rule", "rule", "-rule", "rule-"):
        assert not RULE_ID_PATTERN.match(bad), bad


@pytest.fixture
def rule_copy(tmp_path: Path) -> Path:
    source = load_rules().get("compromised-signing-key").folder
    target = tmp_path / "compromised-signing-key"
    shutil.copytree(source, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_copied_rule_loads(rule_copy: Path) -> None:
    assert load_rules(rule_copy.parent).ids == ("compromised-signing-key",)


def test_id_differing_from_folder_is_refused(rule_copy: Path) -> None:
    renamed = rule_copy.with_name("other-name")
    rule_copy.rename(renamed)
    with pytest.raises(RuleError, match="differs from its folder name"):
        load_rules(renamed.parent)


def test_unknown_severity_is_refused(rule_copy: Path) -> None:
    _edit(rule_copy / "rule.toml", 'severity = "High"', 'severity = "Critical"')
    with pytest.raises(RuleError, match=r"rule.toml: severity 'Critical'"):
        load_rules(rule_copy.parent)


def test_parameter_without_default_is_refused(rule_copy: Path) -> None:
    _edit(rule_copy / "rule.kql", "default_window:timespan = 1h", "default_window:timespan")
    with pytest.raises(RuleError, match="without a default"):
        load_rules(rule_copy.parent)


def test_undocumented_parameter_is_refused(rule_copy: Path) -> None:
    _edit(rule_copy / "rule.toml", 'default_window = "Window scanned', 'unused_name = "Window scanned')
    with pytest.raises(RuleError, match="parameters missing from"):
        load_rules(rule_copy.parent)


def test_entity_must_name_a_finding_column(rule_copy: Path) -> None:
    _edit(rule_copy / "rule.toml", 'ip = "IpAddress"', 'ip = "ClientIp"')
    with pytest.raises(RuleError, match=r"entities\.ip must name a finding column"):
        load_rules(rule_copy.parent)


def test_declared_table_must_be_read(rule_copy: Path) -> None:
    _edit(rule_copy / "rule.toml", 'tables = ["TokenValidation_CL"]', 'tables = ["TokenValidation_CL", "SigninLogs"]')
    with pytest.raises(RuleError, match="never reads it"):
        load_rules(rule_copy.parent)


def test_collect_errors_reports_every_broken_rule(rule_copy: Path) -> None:
    second = rule_copy.with_name("second-rule")
    shutil.copytree(rule_copy, second)
    _edit(second / "rule.toml", 'id = "compromised-signing-key"', 'id = "second-rule"')
    _edit(second / "rule.toml", 'severity = "High"', 'severity = "Bad"')
    _edit(rule_copy / "rule.toml", 'severity = "High"', 'severity = "Worse"')
    with pytest.raises(RuleError) as raised:
        load_rules(rule_copy.parent, collect_errors=True)
    assert "'Bad'" in str(raised.value) and "'Worse'" in str(raised.value)


def test_fixture_files_are_valid_json() -> None:
    for rule in load_rules():
        for kind in ("positive", "negative"):
            for path in rule.fixtures(kind):
                case = json.loads(path.read_text())
                assert set(case) <= {"description", "window", "parameters", "tables", "expect"}, path
