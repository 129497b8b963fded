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

from shared.apps import AppCatalog
from shared.errors import QueryError, UpstreamError
from shared.findings import Finding, finding_from_row
from shared.keys.intel import KeyIntelligence
from shared.logsources.base import CompleteResult, LogSource, TimeRange
from shared.ruleset import Rule, RuleCollection
from shared.timeparse import parse_duration

__all__ = ["HuntContext", "HuntReport", "RuleRun", "rule_parameters", "rule_timespan", "run_hunt"]

RunStatus = Literal["complete", "partial", "failed"]


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
            values["published_kids"] = self.keys.published_kids()
        else:
            values["published_kids"] = []
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
class RuleRun:
    rule_id: str
    status: RunStatus
    findings: int
    elapsed_seconds: float
    timespan: TimeRange
    message: str | None = None


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


def _as_timedelta(value: object, name: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"{name} is not a timespan: {value!r}")


def rule_timespan(rule: Rule, window: TimeRange, parameters: Mapping[str, object]) -> TimeRange:
    """The window widened by the rule's reach-back parameters (lookbacks, baselines)."""
    reach = timedelta(0)
    defaults = {d.name: d.default for d in rule.declarations}
    for name in rule.meta.reach_back:
        value = parameters.get(name, defaults.get(name))
        reach = max(reach, _as_timedelta(value, name))
    return TimeRange(start=window.start - reach, end=window.end)


ProgressCallback = Callable[[int, int, Rule, RuleRun | None], None]


def run_hunt(
    source: LogSource,
    rules: RuleCollection,
    *,
    window: TimeRange,
    context: HuntContext,
    on_progress: ProgressCallback | None = None,
    timeout: float | None = None,
) -> HuntReport:
    """Run every rule over *window*; a failing rule is reported and the others still run.

    *timeout* (seconds) holds each query to a deadline (the scan's time budget); None leaves the source's own.
    """
    available, warnings = context.values()
    findings: list[Finding] = []
    runs: list[RuleRun] = []
    total = len(rules)
    for index, rule in enumerate(rules, start=1):
        if on_progress:
            on_progress(index, total, rule, None)
        parameters = rule_parameters(rule, window, available)
        timespan = rule_timespan(rule, window, parameters)
        started = time.perf_counter()
        try:
            limit = {"timeout": timeout} if timeout is not None else {}
            outcome = source.query(rule.query, parameters=parameters, timespan=timespan, label=rule.id, **limit)
        except (QueryError, UpstreamError) as exc:
            # One rule's failure (a bad query, a timeout, throttling) must not hide the others' findings.
            # Configuration errors (auth, unknown workspace) still stop the hunt: every rule would fail.
            run = RuleRun(rule_id=rule.id, status="failed", findings=0,
                          elapsed_seconds=time.perf_counter() - started, timespan=timespan, message=str(exc))
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
            )
        runs.append(run)
        if on_progress:
            on_progress(index, total, rule, run)
    findings.sort(key=lambda f: (_severity_rank(f.severity), f.first_seen, f.rule_id))
    relevant = [w for w in warnings if w.split(" ", 1)[0] in rules.ids]
    return HuntReport(window=window, source=source.description, findings=tuple(findings),
                      runs=tuple(runs), warnings=tuple(relevant))


def _severity_rank(severity: str) -> int:
    return {"High": 0, "Medium": 1, "Low": 2, "Informational": 3}.get(severity, 4)


def default_window(now: datetime, last: timedelta) -> TimeRange:
    return TimeRange(start=now - last, end=now)
