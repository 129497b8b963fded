"""Generate ``infra/sentinel/analytic-rules.json``: every rule's Sentinel form and metadata, for the Bicep to deploy.

``make sentinel-content`` runs it; ``--check`` (used by the tests) fails when the file on disk is stale. The
Bicep (``infra/sentinel/analytic-rules.bicep``) reads the file with ``loadJsonContent``, so what Sentinel
receives is exactly ``tokenwarden rules render ID --for sentinel`` and a rule's metadata lives only in its
``rule.toml``.

Per rule the file holds what the ``Microsoft.SecurityInsights/alertRules@2025-09-01`` Scheduled kind takes
(azure-rest-api-specs, ``specification/securityinsights/resource-manager/Microsoft.SecurityInsights/stable/
2025-09-01/AlertRules.json``, ``ScheduledAlertRuleProperties``): the query, ``queryFrequency`` and
``queryPeriod``, severity, tactics and techniques. The stable API accepts only technique ids of the form
``T####``, so each sub-technique is reduced to its technique. ``placeholderQuery`` is deployed, disabled,
while the workspace lacks one of the rule's tables, because creating a rule test-runs its query and a missing
table fails the whole deployment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.detect.rule_forms import placeholder_query, render_rule
from shared.detect.ruleset import Rule, RuleCollection, load_rules

__all__ = ["CONTENT_FILE", "main", "sentinel_content"]

CONTENT_FILE = Path(__file__).resolve().parent.parent / "infra" / "sentinel" / "analytic-rules.json"
SENTINEL_QUERY_LIMIT = 10_000
"""Sentinel refuses a scheduled rule whose query is longer than 10,000 characters."""


def _rule(rule: Rule) -> dict[str, Any]:
    query = render_rule(rule, "sentinel")
    if len(query) > SENTINEL_QUERY_LIMIT:
        raise SystemExit(f"{rule.id}: the Sentinel form is {len(query)} characters; Sentinel allows 10,000")
    description = rule.meta.description
    if rule.meta.sentinel_disabled_reason:
        description = f"{description} Deployed disabled: {rule.meta.sentinel_disabled_reason}"
    return {
        "id": rule.id,
        "title": rule.meta.title,
        "severity": rule.meta.severity,
        "tables": list(rule.meta.tables),
        "queryFrequency": rule.meta.sentinel_frequency,
        "queryPeriod": rule.meta.sentinel_period,
        "tactics": list(rule.meta.tactics),
        "techniques": list(dict.fromkeys(t.split(".")[0] for t in rule.meta.techniques)),
        "enabled": rule.meta.sentinel_disabled_reason is None,
        "description": description,
        "query": query,
        "placeholderQuery": placeholder_query(rule),
    }


def sentinel_content(rules: RuleCollection) -> str:
    """The file's text for ``rules``."""
    document = {
        "_generated": "by `make sentinel-content` (python -m tools.sentinel_content) from shared/rules; do not edit",
        "rules": [_rule(rule) for rule in rules],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file on disk is not what would be written")
    args = parser.parse_args(argv)
    text = sentinel_content(load_rules())
    if args.check:
        current = CONTENT_FILE.read_text(encoding="utf-8") if CONTENT_FILE.exists() else ""
        if current != text:
            print(f"{CONTENT_FILE} is stale: run `make sentinel-content`", file=sys.stderr)
            return 1
        return 0
    CONTENT_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {CONTENT_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
