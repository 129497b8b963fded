"""Policy types and their evaluation: first matching triage rule wins, conditions within a rule are ANDed.

First-match keeps the policy readable as a list an analyst can audit from the
top down, like a firewall rule base: the most specific, most severe rules go
first, and the default catches everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.detect.ruleset import Severity

__all__ = ["Conditions", "Decision", "Playbook", "Policy", "TriageInput", "TriageRule"]

RISK_LEVELS = ("none", "low", "medium", "high", "hidden", "unknownFutureValue")


@dataclass(frozen=True, kw_only=True)
class TriageInput:
    """What the policy may look at, taken from a case and its enrichment.

    ``None`` means "unknown" (enrichment failed or did not apply); a condition on
    an unknown value does not match, so a degraded case falls through to the
    rules that do not depend on it rather than being silently promoted.
    """

    rule_ids: frozenset[str]
    finding_count: int
    privileged_user: bool | None = None
    risk_level: str | None = None
    app_audiences: frozenset[str] = frozenset()
    ti_match: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Conditions:
    rules: frozenset[str] | None = None
    privileged_user: bool | None = None
    risk_levels: frozenset[str] | None = None
    app_audiences: frozenset[str] | None = None
    ti_match: bool | None = None
    min_count: int | None = None

    def matches(self, case: TriageInput) -> bool:
        checks = (
            self.rules is None or bool(self.rules & case.rule_ids),
            self.privileged_user is None or case.privileged_user is self.privileged_user,
            self.risk_levels is None or (case.risk_level is not None and case.risk_level in self.risk_levels),
            self.app_audiences is None or bool(self.app_audiences & case.app_audiences),
            self.ti_match is None or case.ti_match is self.ti_match,
            self.min_count is None or case.finding_count >= self.min_count,
        )
        return all(checks)


@dataclass(frozen=True, kw_only=True)
class TriageRule:
    name: str
    when: Conditions
    severity: Severity
    playbook: str
    location: str
    """Where the rule is written (file:line), for the decision's audit trail."""


STEP_NAMES = (
    "revoke_sessions", "confirm_compromised", "disable_user", "refresh_app_key_cache", "sentinel_incident", "notify",
)
"""The response steps a playbook may name, in the response engine's vocabulary."""


@dataclass(frozen=True, kw_only=True)
class PlaybookStep:
    name: str
    when: Conditions | None
    """Run the step only for cases whose facts match; None runs it always."""
    options: Mapping[str, object]
    location: str


@dataclass(frozen=True, kw_only=True)
class Playbook:
    name: str
    description: str
    steps: tuple[PlaybookStep, ...]


@dataclass(frozen=True, kw_only=True)
class Decision:
    severity: Severity
    playbook: str
    matched: str
    """The triage rule's name, or ``default``."""
    reason: str


@dataclass(frozen=True, kw_only=True)
class Policy:
    source: str
    playbooks: Mapping[str, Playbook]
    rules: tuple[TriageRule, ...]
    default_severity: Severity
    default_playbook: str

    def decide(self, case: TriageInput) -> Decision:
        for rule in self.rules:
            if rule.when.matches(case):
                return Decision(severity=rule.severity, playbook=rule.playbook, matched=rule.name,
                                reason=f"triage rule {rule.name!r} ({rule.location})")
        return Decision(severity=self.default_severity, playbook=self.default_playbook, matched="default",
                        reason=f"no triage rule matched; default of {self.source}")
