"""Adding a rule is adding one folder: a copied folder under a new id flows through load, docs and Sentinel content.

Nothing else is edited: the loader, the rule catalogue (docs/rules.md) and the Sentinel content
(infra/sentinel/analytic-rules.json, which the Bicep deploys as it is) all read the rules directory they are given.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from shared.core.errors import RuleError
from shared.detect.rule_docs import rules_markdown
from shared.detect.rule_forms import render_rule
from shared.detect.ruleset import load_rules
from tests.support.rule_folders import RULES_DIR, rule_tomls, shipped_rule_ids
from tools.sentinel_content import sentinel_content

NEW_ID = "token-without-sign-in-again"


def _rules_with_a_copy(tmp_path: Path) -> Path:
    """The shipped rules plus ``token-without-sign-in`` copied as NEW_ID; only its id and title say it is new."""
    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules_dir)
    copy = rules_dir / NEW_ID
    shutil.copytree(rules_dir / "token-without-sign-in", copy)
    toml = copy / "rule.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace('id = "token-without-sign-in"', f'id = "{NEW_ID}"', 1)
    text = text.replace('title = "', 'title = "Again: ', 1)
    toml.write_text(text, encoding="utf-8")
    return rules_dir


def test_a_copied_rule_folder_is_loaded_documented_and_deployed(tmp_path: Path) -> None:
    rules_dir = _rules_with_a_copy(tmp_path)
    assert shipped_rule_ids(rules_dir) == shipped_rule_ids() | {NEW_ID}
    toml = rule_tomls(rules_dir)[NEW_ID]

    rules = load_rules(rules_dir)
    assert set(rules.ids) == shipped_rule_ids(rules_dir)
    rule = rules.get(NEW_ID)
    assert rule.meta.title == toml["title"]

    docs = rules_markdown(rules)
    assert f"## {NEW_ID}" in docs and toml["title"] in docs
    assert docs != rules_markdown(load_rules())

    content = {r["id"]: r for r in json.loads(sentinel_content(rules))["rules"]}
    assert set(content) == shipped_rule_ids(rules_dir)
    deployed = content[NEW_ID]
    assert (deployed["title"], deployed["severity"], deployed["tables"]) == (toml["title"], toml["severity"],
                                                                             toml["tables"])
    assert deployed["tactics"] == toml["mitre"]["tactics"]
    assert (deployed["queryFrequency"], deployed["queryPeriod"]) == (toml["sentinel"]["query_frequency"],
                                                                     toml["sentinel"]["query_period"])
    assert deployed["query"] == render_rule(rule, "sentinel")


def test_the_copy_is_not_a_shipped_rule(tmp_path: Path) -> None:
    """The guard above sees a real addition: the shipped set lacks the new id, and a copy left with the old id
    is refused rather than silently merged."""
    assert NEW_ID not in shipped_rule_ids()
    rules_dir = _rules_with_a_copy(tmp_path)
    toml = rules_dir / NEW_ID / "rule.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace(f'id = "{NEW_ID}"', 'id = "token-without-sign-in"'),
                    encoding="utf-8")
    assert tomllib.loads(toml.read_text(encoding="utf-8"))["id"] == "token-without-sign-in"
    with pytest.raises(RuleError, match="differs from its folder name"):
        load_rules(rules_dir)
