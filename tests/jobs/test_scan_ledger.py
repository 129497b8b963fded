"""The scan against Azurite: cases and findings recorded, checkpoints advanced only once stored,
catch-up after an outage in bounded chunks without a gap, and no double counting in the overlap."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.cases.principal import case_subject, finding_identity
from shared.core.errors import ConfigurationError, QueryError
from shared.core.settings import load_settings
from shared.detect.hunt import HuntContext, run_hunt
from shared.detect.keys.compromised import load_compromised_keys
from shared.detect.keys.intel import KeyIntelligence
from shared.detect.logsources.base import CompleteResult, LogSource, PartialResult, QueryOutcome, TimeRange
from shared.detect.logsources.local import LocalWorkspace
from shared.detect.ruleset import load_rules
from shared.devkit.demo_data.rows import token_validation_row
from shared.devkit.demo_data.tenant import DemoApp
from shared.devkit.demo_data.writer import TableWriters
from shared.jobs.checkpoints import ScanPolicy
from shared.jobs.scan import ScanReport, run_scan, scan
from shared.jobs.wiring import build_hunt_context, build_log_source
from shared.ledger.case_store import CaseStore
from shared.ledger.checkpoint_store import CheckpointStore
from shared.ledger.connection import Ledger
from shared.ledger.finding_store import FindingStore
from tests.support.demo import DEMO_END, DemoLogs
from tests.support.findings import make_finding

pytest_plugins = ("tests.support.azurite", "tests.support.demo_logs")

RULES = load_rules()


def _scan(environment: Mapping[str, str], ledger: Ledger, now: datetime, source: LogSource | None = None,
          rule_ids: list[str] | None = None) -> ScanReport:
    settings = load_settings(environment)
    own = source is None
    source = source or build_log_source(settings)
    try:
        return scan(source, RULES.select(rule_ids), context=build_hunt_context(settings), ledger=ledger,
                    policy=ScanPolicy.from_settings(settings), now=now)
    finally:
        if own:
            source.close()


def _stored(ledger: Ledger) -> dict[tuple[str, str], Any]:
    return {(f.rule_id, f.row_key): (f.observation, f.case_id) for f in FindingStore(ledger.findings).all()}


def _assert_contiguous(windows: tuple[TimeRange, ...], start: datetime, end: datetime, chunk: timedelta) -> None:
    assert windows[0].start == start and windows[-1].end == end
    for earlier, later in itertools.pairwise(windows):
        assert later.start == earlier.end  # every minute scanned, none skipped
    assert all(w.end - w.start <= chunk for w in windows)


@pytest.fixture
def environment(demo_logs: DemoLogs, storage_environment: dict[str, str]) -> dict[str, str]:
    return demo_logs.environment(**storage_environment, SCAN_LOOKBACK="24h", SCAN_MAX_CHUNK="25h")


def test_a_first_scan_records_every_planted_attack_on_one_case_per_principal(
        environment: dict[str, str], ledger: Ledger, demo_logs: DemoLogs) -> None:
    report = _scan({**environment, "SCAN_MAX_CHUNK": "6h"}, ledger, DEMO_END + timedelta(minutes=5))
    stored = FindingStore(ledger.findings).all()
    fired = {(f.rule_id, f.token_id or f.user_upn) for f in stored}
    planted = {(c.rule_id, c.token_id or c.user_upn) for c in demo_logs.summary.planted if c.kind == "attack"}
    assert planted <= fired
    cases = CaseStore(ledger.cases).cases()
    assert len({c.principal for c in cases}) == len(cases) == len(report.cases_created) > 0
    assert set(report.cases_needing_work) == {c.case_id for c in cases}
    assert report.findings_new == len(stored)
    assert all(p.caught_up and p.watermark_after == DEMO_END for p in report.progress)
    assert [len(p.windows) for p in report.progress] == [4] * len(RULES)  # 24 h in 6 h chunks


def test_re_scanning_the_same_windows_changes_nothing(environment: dict[str, str], ledger: Ledger) -> None:
    now = DEMO_END + timedelta(minutes=5)
    _scan(environment, ledger, now)
    before = (_stored(ledger), CaseStore(ledger.cases).cases())
    checkpoints = CheckpointStore(ledger.checkpoints)
    for rule in RULES:
        checkpoints.reset(rule.id)  # as if the checkpoints were lost: the same 24 h are read again
    again = _scan(environment, ledger, now)
    assert (again.findings_new, again.findings_merged) == (0, 0) and again.findings_unchanged > 0
    assert again.cases_created == () and again.cases_needing_work == ()
    assert (_stored(ledger), CaseStore(ledger.cases).cases()) == before


def test_timers_every_five_minutes_re_read_the_overlap_without_counting_twice(
        environment: dict[str, str], ledger: Ledger) -> None:
    now = DEMO_END + timedelta(minutes=5)
    _scan(environment, ledger, now)
    before = _stored(ledger)
    for tick in (5, 10, 15):
        report = _scan(environment, ledger, now + timedelta(minutes=tick))
        assert all(p.windows[0].start == p.watermark_before - timedelta(minutes=10)  # type: ignore[operator]
                   for p in report.progress)
        assert report.findings_new == 0 and report.cases_needing_work == ()
    assert _stored(ledger) == before


@pytest.mark.slow
def test_a_three_hour_outage_is_caught_up_in_bounded_chunks_without_a_gap(
        environment: dict[str, str], ledger: Ledger) -> None:
    environment = {**environment, "SCAN_LOOKBACK": "2h", "SCAN_MAX_CHUNK": "1h"}
    outage_start = DEMO_END - timedelta(hours=3)
    _scan(environment, ledger, outage_start + timedelta(minutes=5))  # the last scan before the outage
    watermarks = CheckpointStore(ledger.checkpoints).watermarks()
    assert set(watermarks.values()) == {outage_start}

    report = _scan(environment, ledger, DEMO_END + timedelta(minutes=5))  # the first timer after it
    for progress in report.progress:
        assert progress.watermark_before == outage_start and progress.watermark_after == DEMO_END
        _assert_contiguous(progress.windows, outage_start - timedelta(minutes=10), DEMO_END, timedelta(hours=1))
        assert len(progress.windows) == 4  # 3 h 10 min in chunks of at most an hour

    # Nothing was missed: the ledger holds what one uninterrupted hunt over the whole span finds.
    settings = load_settings(environment)
    source = build_log_source(settings)
    try:
        reference = run_hunt(source, RULES, window=TimeRange(start=outage_start - timedelta(hours=2), end=DEMO_END),
                             context=build_hunt_context(settings))
    finally:
        source.close()
    expected = {(i.rule_id, i.row_key) for i in map(finding_identity, reference.findings)}
    assert expected and set(_stored(ledger)) == expected


def test_a_backlog_beyond_one_invocation_continues_from_the_watermark(environment: dict[str, str],
                                                                      ledger: Ledger) -> None:
    environment = {**environment, "SCAN_LOOKBACK": "5h", "SCAN_MAX_CHUNK": "1h", "SCAN_MAX_CHUNKS": "2"}
    now = DEMO_END + timedelta(minutes=5)
    first = _scan(environment, ledger, now)
    assert all(len(p.windows) == 2 and not p.caught_up for p in first.progress)
    assert {p.watermark_after for p in first.progress} == {DEMO_END - timedelta(hours=3)}
    second = _scan(environment, ledger, now)
    for progress in second.progress:
        assert progress.windows[0].start == DEMO_END - timedelta(hours=3, minutes=10)
    third = _scan(environment, ledger, now)
    assert all(p.caught_up and p.watermark_after == DEMO_END for p in third.progress)


def test_the_watermark_stays_put_until_the_findings_are_stored(environment: dict[str, str],
                                                               ledger: Ledger) -> None:
    # The planted attacks sit in the second 6 h chunk: the first stores (nothing) and advances;
    # storing the second fails, and no watermark may pass it.
    broken = Ledger(service=ledger.service, cases=ledger.cases, checkpoints=ledger.checkpoints,
                    findings=ledger.service.get_table_client("Nosuchfindings"), actions=ledger.actions)
    environment = {**environment, "SCAN_LOOKBACK": "12h", "SCAN_MAX_CHUNK": "6h"}
    with pytest.raises(ConfigurationError, match="table Nosuchfindings does not exist"):
        _scan(environment, broken, DEMO_END + timedelta(minutes=5))
    last_stored = DEMO_END - timedelta(hours=6)
    assert set(CheckpointStore(ledger.checkpoints).watermarks().values()) == {last_stored}
    report = _scan(environment, ledger, DEMO_END + timedelta(minutes=5))
    assert all(p.windows[0].start == last_stored - timedelta(minutes=10) for p in report.progress)
    assert report.findings_new > 0 and all(p.caught_up for p in report.progress)


class Sabotaged:
    """A log source on which one rule fails, or comes back partial (as Log Analytics may)."""

    def __init__(self, inner: LogSource, rule_id: str, mode: str) -> None:
        self.inner, self.rule_id, self.mode = inner, rule_id, mode

    @property
    def description(self) -> str:
        return self.inner.description

    def query(self, text: str, *, parameters: Mapping[str, object], timespan: TimeRange | None,
              label: str, timeout: float | None = None) -> QueryOutcome:
        if label != self.rule_id:
            return self.inner.query(text, parameters=parameters, timespan=timespan, label=label)
        if self.mode == "fail":
            raise QueryError(f"{label}: the service timed out", rule_id=label)
        outcome = self.inner.query(text, parameters=parameters, timespan=timespan, label=label)
        assert isinstance(outcome, CompleteResult)
        return PartialResult(partial_table=outcome.table, error="the result exceeded the row limit")

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("mode", ["fail", "partial"])
def test_a_rule_that_fails_or_is_partial_keeps_its_watermark_and_the_others_advance(
        environment: dict[str, str], ledger: Ledger, mode: str) -> None:
    victim = "compromised-signing-key"
    settings = load_settings(environment)
    source = Sabotaged(build_log_source(settings), victim, mode)
    try:
        report = _scan(environment, ledger, DEMO_END + timedelta(minutes=5), source=source)
    finally:
        source.close()
    progress = {p.rule_id: p for p in report.progress}
    assert progress[victim].windows == () and progress[victim].watermark_after is None
    assert all(p.watermark_after == DEMO_END for rule_id, p in progress.items() if rule_id != victim)
    (run,) = [r for r in report.runs if r.rule_id == victim]
    assert run.status == ("failed" if mode == "fail" else "partial")
    assert not report.complete
    stored_rules = {f.rule_id for f in FindingStore(ledger.findings).all()}
    assert (victim in stored_rules) == (mode == "partial")  # a partial result's findings are still kept


STORM_KID = "1LTMzakihiRla_8z2BEJVXeWMqo"
API = DemoApp(app_id="11111111-2222-3333-4444-555555555555", display_name="Payroll API",
              sign_in_audience="AzureADMyOrg", identifier_uri=None, validates_tokens=True)


def _write_token_uses(folder: Path, times: list[datetime]) -> None:
    with TableWriters(folder) as writers:
        for when in times:
            writers.write("TokenValidation_CL", token_validation_row(
                when=when, app=API, issuer="https://login.microsoftonline.com/tid/v2.0", tid="tid",
                kid=STORM_KID, uti="forged-uti", oid="aaaaaaaa-0000-4000-8000-000000000001",
                upn="alice@contoso.com", client_app_id=API.app_id, issued_at=when - timedelta(minutes=1),
                lifetime=timedelta(hours=1), ip="195.26.87.219", user_agent="Client=REST"))


def _storm_scan(folder: Path, ledger: Ledger, now: datetime) -> ScanReport:
    workspace = LocalWorkspace.from_exports(folder)
    try:
        return scan(workspace, RULES.select(["compromised-signing-key"]),
                    context=HuntContext(keys=KeyIntelligence(published=(), compromised=load_compromised_keys())),
                    ledger=ledger, policy=ScanPolicy(initial_lookback=timedelta(hours=1)), now=now)
    finally:
        workspace.close()


def test_rows_re_read_in_the_overlap_are_not_counted_twice_and_late_rows_are_caught(
        tmp_path: Path, ledger: Ledger) -> None:
    watermark = DEMO_END
    early = watermark - timedelta(minutes=8)  # inside the next scan's 10-minute overlap
    _write_token_uses(tmp_path, [early])
    _storm_scan(tmp_path, ledger, watermark + timedelta(minutes=5))
    (finding,) = FindingStore(ledger.findings).all()
    assert finding.observation.count == 1

    report = _storm_scan(tmp_path, ledger, watermark + timedelta(minutes=10))  # re-reads `early`
    assert (report.findings_new, report.findings_merged) == (0, 0)
    assert FindingStore(ledger.findings).all()[0].observation.count == 1  # not 2

    # A row for 3 minutes before the watermark arrives late, and the token is used again after it.
    _write_token_uses(tmp_path, [early, watermark - timedelta(minutes=3), watermark + timedelta(minutes=2)])
    report = _storm_scan(tmp_path, ledger, watermark + timedelta(minutes=15))
    assert report.findings_merged == 1 and report.cases_needing_work == ()  # same finding, same case
    (finding,) = FindingStore(ledger.findings).all()
    assert finding.observation.count == 3
    assert finding.observation.first_seen == early
    assert finding.observation.last_seen == watermark + timedelta(minutes=2)
    (case,) = CaseStore(ledger.cases).cases()
    assert case.principal == case_subject(make_finding(oid="aaaaaaaa-0000-4000-8000-000000000001", token="x"))


def test_run_scan_builds_everything_from_settings(environment: dict[str, str], ledger: Ledger) -> None:
    report = run_scan(load_settings({**environment, "SCAN_LOOKBACK": "1h"}), now=DEMO_END, ledger=ledger)
    assert report.complete and len(report.runs) == len(RULES)
    assert {p.watermark_after for p in report.progress} == {DEMO_END - timedelta(minutes=5)}
