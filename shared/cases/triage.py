"""Enrich and triage cases in the ledger: facts from Graph, threat intelligence and key intelligence, then a
decision from the triage policy, stored on each case.

This is the step between detection and response: the scan says which cases
changed, this step says what they are and what should be done about them, and
the response engine (next) does it under its guardrails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.cases.enrich.enricher import enrich_cases, triage_input
from shared.cases.enrich.graph import GraphDirectory
from shared.cases.model import Case
from shared.cases.policy.model import Decision, Policy
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import LogSource
from shared.ledger.connection import Ledger

__all__ = ["TriageOutcome", "triage_cases"]


@dataclass(frozen=True, kw_only=True)
class TriageOutcome:
    case: Case
    decision: Decision
    degraded: tuple[str, ...]


def triage_cases(
    ledger: Ledger,
    case_ids: Sequence[str],
    *,
    directory: GraphDirectory | None,
    source: LogSource | None,
    keys: KeyIntelligence,
    policy: Policy,
    now: datetime,
) -> list[TriageOutcome]:
    """Enrich every named open case in one pass and record its decision; closed or unknown cases are skipped."""
    from shared.ledger.case_store import CaseStore
    from shared.ledger.finding_store import FindingStore

    cases = CaseStore(ledger.cases)
    findings_store = FindingStore(ledger.findings)
    open_cases = [case for case in (cases.get(case_id) for case_id in dict.fromkeys(case_ids))
                  if case is not None and case.is_open]
    findings = {case.case_id: [stored.to_finding() for stored in findings_store.for_case(case.case_id)]
                for case in open_cases}
    enrichment = enrich_cases(findings, directory=directory, source=source, keys=keys, as_of=now)
    outcomes = []
    for case in open_cases:
        facts = enrichment[case.case_id]
        decision = policy.decide(triage_input(findings[case.case_id], facts))
        reason = f"enriched; {decision.reason} -> {decision.severity}, playbook {decision.playbook}"
        if facts.degraded:
            reason += f"; degraded: {len(facts.degraded)} lookup(s) failed"
        saved = cases.record_triage(
            case.case_id, enrichment=facts.to_json(),
            decision={"severity": decision.severity, "playbook": decision.playbook, "matched": decision.matched,
                      "reason": decision.reason, "decided_at": now.isoformat()},
            severity=decision.severity, reason=reason, at=now)
        outcomes.append(TriageOutcome(case=saved, decision=decision, degraded=facts.degraded))
    return outcomes
