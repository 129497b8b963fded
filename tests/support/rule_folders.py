"""What the rule folders themselves say, read without the loader: the expected rule lists of the tests.

A rule is one folder (``shared/rules/<id>/``), so no test spells out the list of rule ids: adding a folder adds
the rule to every check that covers all rules.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

RULES_DIR = Path(__file__).resolve().parents[2] / "shared" / "rules"


def rule_tomls(rules_dir: Path = RULES_DIR) -> dict[str, dict[str, Any]]:
    """Each rule folder's name and its parsed ``rule.toml``."""
    return {path.parent.name: tomllib.loads(path.read_text(encoding="utf-8"))
            for path in sorted(rules_dir.glob("*/rule.toml"))}


def shipped_rule_ids(rules_dir: Path = RULES_DIR) -> set[str]:
    """The folder names of the shipped rules."""
    return set(rule_tomls(rules_dir))


def sentinel_disabled_rule_ids(rules_dir: Path = RULES_DIR) -> set[str]:
    """The rules whose ``rule.toml`` gives a reason to deploy them disabled in Sentinel."""
    return {rule_id for rule_id, toml in rule_tomls(rules_dir).items()
            if toml.get("sentinel", {}).get("disabled_reason")}
