"""Which columns a set of rules can read, so that a hunt loads only those.

Deliberately coarse: every word in a rule's text (its KQL, comments and string
literals included, and the text of each form it is rendered to) that names a
column of any table counts, for every table that has a column of that name,
compared case-insensitively. A rule that names a column only inside a string
(``column_ifexists("X", "")``, a ``bag_pack`` key) or in a comment loads it too.
Over-reading costs a little time; under-reading would make a rule silently
miss rows, so the test suite runs every rule over a pruned and a full load and
compares the findings (tests/workspace/test_columns_used.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shared.detect.ruleset import Rule

__all__ = ["columns_used", "words"]

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def words(text: str) -> frozenset[str]:
    """Every identifier-like word in ``text``, lower-cased."""
    return frozenset(match.group(0).lower() for match in _WORD.finditer(text))


def columns_used(rules: Iterable[Rule]) -> frozenset[str]:
    """The lower-cased words of the rules' texts: a superset of the columns they read (see the module doc)."""
    from shared.detect.rule_forms import render_rule

    found: set[str] = set()
    for rule in rules:
        found |= words(rule.query)
        found |= words(render_rule(rule, "log-analytics"))
    return frozenset(found)
