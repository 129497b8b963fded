"""Running the rules: one parameter set per rule, one widened timespan, one report.

The same code path serves the CLI hunt, the timer and the tests, whatever the
log source, so a rule that fires locally fires in production for the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from shared.core.errors import DataError, QueryError, UpstreamError
from shared.detect.apps import AppCatalog
from shared.detect.findings import Finding, finding_from_row
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import CompleteResult, LogSource, TimeRange
from shared.detect.rule_forms import render_rule
from shared.detect.ruleset import Rule, RuleCollection

__all__ = [
    "HuntContext",
    "HuntReport",
    "RuleRun",
    "TableCoverage",
    "rule_parameters",
    "rule_timespan",
    "run_hunt",
]

RunStatus = Literal["complete", "partial", "failed", "no_input"]

APP_TABLE = "TokenValidation_CL"
"""The table the apps' token-validation middleware writes; nothing in Entra or Office fills it."""


@dataclass(frozen=True, kw_only=True)
class HuntContext:
    """Everything a hunt passes to the rules besides the window.

    ``overrides`` holds operator tuning by parameter name (``signin_lookback``,
    ``max_lifetime``...) and wins over the rule's declared default.
    """

    keys: KeyIntelligence
    apps: AppCatalog | None = None
    graph_allowlist_apps: tuple[str, ...] = ()
    overrides: Mapping[str, object] = field(default_factory=dict)

    def values(self) -> tuple[dict[str, object], list[str]]:
        """All parameter values this context can supply, and warnings about what it lacks."""
        warnings: list[str] = []
        values: dict[str, object] = dict(self.keys.compromised.parameter_values())
        if self.keys.published_complete:
            values["published_keys"] = self.keys.published_keys()
        else:
            values["published_keys"] = []
            reason = "; ".join(self.keys.failures) or "no JWKS was given or fetched"
            warnings.append(f"unpublished-signing-key is silent: the published key set is unknown ({reason})")
        if self.apps is not None and self.apps.apps:
            values.update(self.apps.parameter_values())
        else:
            values.update({"personal_account_apps": [], "known_org_apps": []})
            warnings.append(
                "consumer-key-for-org-app has no app metadata: every consumer-tenant token is reported, "
                "with the app's audience unknown"
            )
        values["allowlisted_apps"] = sorted({app.lower() for app in self.graph_allowlist_apps}
                                            | set(self.graph_allowlist_apps))
        values.update(self.overrides)
        return values, warnings


@dataclass(frozen=True, kw_only=True)
class TableCoverage:
    """Rows of one input table inside a rule's timespan; ``rows`` is None when the source has no such table."""

    table: str
    rows: int | None


@dataclass(frozen=True, kw_only=True)
class RuleRun:
    rule_id: str
    status: RunStatus
    findings: int
    elapsed_seconds: float
    timespan: TimeRange
    message: str | None = None
    coverage: tuple[TableCoverage, ...] = ()


@dataclass(frozen=True, kw_only=True)
class HuntReport:
    window: TimeRange
    source: str
    findings: tuple[Finding, ...]
    runs: tuple[RuleRun, ...]
    warnings: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return all(run.status == "complete" for run in self.runs)


def rule_parameters(rule: Rule, window: TimeRange, available: Mapping[str, object]) -> dict[str, object]:
    """The values for exactly the parameters *rule* declares; undeclared extras are left out."""
    values: dict[str, object] = {"window_start": window.start, "window_end": window.end}
    for name in rule.parameter_names:
        if name in available and name not in values:
            values[name] = available[name]
    return values


def rule_timespan(rule: Rule, window: TimeRange, parameters: Mapping[str, object]) -> TimeRange:
    """The window widened by the rule's reach-back (arrival delay, look-backs, baselines): the ``TimeGenerated``
    range the source must hold for the rule to see everything that arrived in ``window``."""
    return TimeRange(start=window.start - rule.reach_back(parameters), end=window.end)


ProgressCallback = Callable[[int, int, Rule, RuleRun | None], None]


def run_hunt(
    source: LogSource,
    rules: RuleCollection,
    *,
    window: TimeRange,
    context: HuntContext,
    on_progress: ProgressCallback | None = None,
    coverage: bool = False,
    timeout: float | None = None,
) -> HuntReport:
    """Run every rule over *window*; a failing rule is reported and the others still run.

    *timeout* (seconds) holds each query to a deadline (the scan's time budget); None leaves the source's own.

    With ``coverage``, each rule's input tables are counted inside its timespan
    first, and a rule whose main table (the first it lists) holds no rows there
    is reported as ``no_input`` instead of being run: "0 findings" would claim
    a search that never had anything to search.
    """
    available, warnings = context.values()
    findings: list[Finding] = []
    runs: list[RuleRun] = []
    total = len(rules)
    counts: dict[tuple[str, TimeRange], int | None] = {}
    for index, rule in enumerate(rules, start=1):
        if on_progress:
            on_progress(index, total, rule, None)
        parameters = rule_parameters(rule, window, available)
        timespan = rule_timespan(rule, window, parameters)
        started = time.perf_counter()
        counted = _coverage(source, rule, timespan, counts) if coverage else ()
        if counted and not counted[0].rows:
            run = RuleRun(rule_id=rule.id, status="no_input", findings=0, elapsed_seconds=time.perf_counter() - started,
                          timespan=timespan, message=_no_input_message(counted[0], timespan), coverage=counted)
            runs.append(run)
            if on_progress:
                on_progress(index, total, rule, run)
            continue
        try:
            text = render_rule(rule, "log-analytics", parameters)
            limit = {"timeout": timeout} if timeout is not None else {}
            outcome = source.query(text, parameters={}, timespan=timespan, label=rule.id, **limit)
        except (DataError, QueryError, UpstreamError) as exc:
            # One rule's failure (a value it refuses, a bad query, a timeout, throttling) must not hide the
            # others' findings.
            # Configuration errors (auth, unknown workspace) still stop the hunt: every rule would fail.
            run = RuleRun(rule_id=rule.id, status="failed", findings=0, elapsed_seconds=time.perf_counter() - started,
                          timespan=timespan, message=str(exc), coverage=counted)
        else:
            table = outcome.table if isinstance(outcome, CompleteResult) else outcome.partial_table
            rule_findings = [finding_from_row(rule, record) for record in table.records()]
            findings.extend(rule_findings)
            run = RuleRun(
                rule_id=rule.id,
                status="complete" if isinstance(outcome, CompleteResult) else "partial",
                findings=len(rule_findings),
                elapsed_seconds=time.perf_counter() - started,
                timespan=timespan,
                message=None if isinstance(outcome, CompleteResult) else outcome.error,
                coverage=counted,
            )
        runs.append(run)
        if on_progress:
            on_progress(index, total, rule, run)
    findings.sort(key=lambda f: (_severity_rank(f.severity), f.first_seen, f.rule_id))
    relevant = [w for w in warnings if w.split(" ", 1)[0] in rules.ids]
    return HuntReport(window=window, source=source.description, findings=tuple(findings),
                      runs=tuple(runs), warnings=tuple(relevant))


def _coverage(source: LogSource, rule: Rule, timespan: TimeRange,
              counts: dict[tuple[str, TimeRange], int | None]) -> tuple[TableCoverage, ...]:
    """Rows of each of the rule's tables inside ``timespan``, counted once per table and timespan."""
    counted: list[TableCoverage] = []
    for table in rule.meta.tables:
        key = (table, timespan)
        if key not in counts:
            counts[key] = _count_rows(source, table, timespan)
        counted.append(TableCoverage(table=table, rows=counts[key]))
    return tuple(counted)


def _count_rows(source: LogSource, table: str, timespan: TimeRange) -> int | None:
    # The table name comes from the rule's own rule.toml, checked against the query text at load; no
    # user text reaches this query.
    try:
        outcome = source.query(f"{table} | count", parameters={}, timespan=timespan, label=f"coverage of {table}")
    except (QueryError, UpstreamError):
        return None
    result = outcome.table if isinstance(outcome, CompleteResult) else outcome.partial_table
    if not result.rows or not result.rows[0]:
        return 0
    value = result.rows[0][0]
    return int(value) if isinstance(value, int | float) else 0


def _no_input_message(main: TableCoverage, timespan: TimeRange) -> str:
    span = f"{_iso(timespan.start)} .. {_iso(timespan.end)}"
    held = ("is not in the source, or could not be counted" if main.rows is None
            else f"has no rows in {span}")
    if main.table == APP_TABLE:
        return (f"{APP_TABLE} {held}; your apps write it when they validate tokens "
                "(see docs/deployment.md, 'Report validated tokens')")
    return f"{main.table} {held}"


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _severity_rank(severity: str) -> int:
    return {"High": 0, "Medium": 1, "Low": 2, "Informational": 3}.get(severity, 4)


def default_window(now: datetime, last: timedelta) -> TimeRange:
    return TimeRange(start=now - last, end=now)
