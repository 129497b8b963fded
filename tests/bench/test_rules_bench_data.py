"""The rule bench's synthetic tables give the session rule real input: CloudAppEvents records carry an Entra session
(RawEventData.AppAccessContext.AADSessionId) and a planted few replay it from another country."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

from bench.rules_bench import WINDOW
from bench.synthetic import BENCH_END, build_tables
from shared.detect.hunt import rule_parameters, rule_timespan
from shared.detect.logsources.base import CompleteResult, TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.rule_forms import render_rule
from shared.detect.ruleset import load_rules

ROWS = 30_000


def test_session_rule_reads_sessions_and_finds_the_planted_replays(tmp_path: Path) -> None:
    import duckdb_kql

    database = tmp_path / "bench.duckdb"
    con = duckdb_kql.connect(str(database))
    build_tables(con, ROWS)
    sessions = con.execute(  # type: ignore[attr-defined]
        "SELECT count(DISTINCT json_extract_string(RawEventData, '$.AppAccessContext.AADSessionId')) "
        "FROM CloudAppEvents").fetchone()[0]
    con.close()
    assert sessions > 1000  # users x days, not one per record nor none

    rule = load_rules().get("session-replay-from-another-network")
    end = BENCH_END.replace(tzinfo=UTC)
    window = TimeRange(start=end - WINDOW, end=end)
    parameters = rule_parameters(rule, window, {})
    workspace = LocalWorkspace.open(database)
    try:
        outcome = workspace.query(render_rule(rule, "log-analytics", parameters), parameters={},
                                  timespan=rule_timespan(rule, window, parameters), label=rule.id)
    finally:
        workspace.close()
    assert isinstance(outcome, CompleteResult), outcome
    evidence = [record["Evidence"] for record in outcome.table.records()]
    evidence = [json.loads(e) if isinstance(e, str) else e for e in evidence]
    # The planted rows of the last day come from France; every user's sign-ins are in the Netherlands.
    assert evidence and {e["use_country"] for e in evidence} == {"FR"}
    assert all(str(e["session_id"]).startswith("sess-") for e in evidence)
