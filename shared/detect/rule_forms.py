"""The text each target receives for a rule: what Log Analytics runs, and what the Sentinel analytic rule holds.

A rule declares its parameters once (``declare query_parameters`` in ``rule.kql``). No target is sent that
statement: Kusto refuses defaults on ``dynamic`` parameters, and the Log Analytics query API cannot carry
values (see :mod:`shared.detect.kql.render`). Instead every parameter is bound as a ``let`` statement:

- ``log-analytics``: the values a hunt or scan supplies (the window, key and app lists, operator tuning),
  the rule's defaults for the rest. :class:`~shared.detect.logsources.log_analytics.LogAnalyticsSource` sends
  exactly this text, and the embedded DuckDB workspace runs exactly this text, so what the tests run is
  what production sends.
- ``sentinel``: what ``infra/sentinel/analytic-rules.json`` deploys. The window is left null, so each run
  reads the ``default_window`` before ``now()``, bound to the rule's ``query_frequency`` so that runs tile;
  look-backs take ``[sentinel.parameters]`` where the rule's ``query_period`` (at most 14 days) needs
  them shorter (:func:`shared.detect.ruleset.load_rule` checks the fit).

``tokenwarden rules render ID --for TARGET`` prints either form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

from shared.core.errors import DataError, RuleError
from shared.detect.kql.render import bind_parameters
from shared.detect.ruleset import FINDING_COLUMNS, Rule

__all__ = ["TARGETS", "Target", "placeholder_query", "render_rule"]

Target = Literal["log-analytics", "sentinel"]
TARGETS: tuple[Target, ...] = get_args(Target)

_BANNER = {
    "log-analytics": "// Rendered for Log Analytics from shared/rules/{id}/rule.kql: parameters bound as lets.\n",
    "sentinel": "// Rendered for Microsoft Sentinel from shared/rules/{id}/rule.kql by `make sentinel-content`; "
    "do not edit.\n",
}


def render_rule(rule: Rule, target: Target, values: Mapping[str, object] | None = None) -> str:
    """The text ``target`` receives for ``rule``, with ``values`` bound (log-analytics only).

    :raises DataError: a value of the wrong type, or one that cannot be written safely.
    :raises RuleError: values given for the Sentinel form, which is fixed by the rule itself.
    """
    if target == "sentinel":
        if values:
            raise RuleError(f"{rule.id}: the Sentinel form takes no values; it binds the rule's Sentinel defaults")
        bound = rule.sentinel_values()
    else:
        bound = dict(values or {})
    try:
        body = bind_parameters(rule.query, bound)
    except DataError as exc:
        raise DataError(f"{rule.id}: {exc}") from None
    return _BANNER[target].format(id=rule.id) + body


def placeholder_query(rule: Rule) -> str:
    """A query that returns the finding contract with no rows, for a Sentinel rule deployed disabled.

    Creating an analytic rule test-runs its query, and a query naming a table the workspace lacks fails the
    whole deployment; so a rule whose tables are not connected is deployed disabled with this stand-in, and
    the real query replaces it when the tables are connected and ``azd provision`` runs again.
    """
    columns = ", ".join(f"{name}:{kusto_type}" for name, kusto_type in FINDING_COLUMNS)
    return (
        f"// {rule.id} is deployed disabled until all of its tables are connected: {', '.join(rule.meta.tables)}.\n"
        f"// The real query is in shared/rules/{rule.id}/rule.kql; it is deployed once its tables are connected.\n"
        f"datatable({columns})[]"
    )
