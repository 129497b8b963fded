"""The ``tokenwarden`` command line, driven in-process and once as a real subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.cli.main import main
from shared.detect.findings import Finding
from shared.detect.ruleset import load_rules
from shared.devkit.demo import check_planted
from tests.support.rule_folders import shipped_rule_ids

FINDING_FIELDS = [
    "rule_id", "rule_title", "severity", "first_seen", "last_seen", "count", "user_upn", "user_object_id",
    "app_id", "ip_address", "key_id", "token_id", "issuer", "tenant_id", "source_table", "evidence", "first_arrived",
]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    code, out, _ = run("demo-data", "--out", str(folder), "--users", "30", "--days", "3", "--seed", "11")
    assert code == 0 and "planted" in out
    return folder


def _hunt_args(folder: Path) -> list[str]:
    planted = json.loads((folder / "planted.json").read_text())
    return ["hunt", "--logs", str(folder), "--jwks", str(folder / "jwks" / "organizations.json"),
            "--jwks", str(folder / "jwks" / "consumers.json"), "--apps", str(folder / "apps.json"),
            "--until", planted["end"], "--since", _minus_24h(planted["end"])]


def _minus_24h(iso: str) -> str:
    from datetime import timedelta

    from shared.core.timeparse import parse_instant

    return (parse_instant(iso) - timedelta(hours=24)).isoformat()


def test_hunt_json_finds_every_planted_attack_and_no_lookalike(demo_logs: Path) -> None:
    code, out, _ = run(*_hunt_args(demo_logs), "--format", "json")
    assert code == 0
    findings = json.loads(out)
    assert findings and all(list(f) == FINDING_FIELDS for f in findings)
    rebuilt = tuple(
        Finding(**{**f, "first_seen": _dt(f["first_seen"]), "last_seen": _dt(f["last_seen"]),
                    "first_arrived": _dt(f["first_arrived"])}) for f in findings
    )
    missed, noisy, attacks, lookalikes = check_planted(rebuilt, demo_logs / "planted.json")
    assert attacks >= 7 and lookalikes >= 4
    assert missed == [] and noisy == []
    assert {f["rule_id"] for f in findings} >= shipped_rule_ids() and len(shipped_rule_ids()) >= 7


def _dt(text: str):  # type: ignore[no-untyped-def]
    from shared.core.timeparse import parse_instant

    return parse_instant(text)


def test_hunt_jsonl_to_a_file_and_rule_selection(demo_logs: Path, tmp_path: Path) -> None:
    target = tmp_path / "findings.jsonl"
    code, out, err = run(*_hunt_args(demo_logs), "--rules", "compromised-signing-key", "--format", "jsonl",
                         "--output", str(target))
    assert code == 0 and out == ""
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == 2 and {line["rule_id"] for line in lines} == {"compromised-signing-key"}
    assert f"wrote 2 findings to {target}" in err


def test_table_output_shows_progress_and_findings(demo_logs: Path) -> None:
    code, out, err = run(*_hunt_args(demo_logs))
    assert code == 0
    rules = len(load_rules())
    assert f"[{rules}/{rules}]" in err
    assert "SEVERITY" in out and "compromised-signing-key" in out


def test_hunt_without_key_or_app_metadata_says_what_it_cannot_judge(demo_logs: Path) -> None:
    planted = json.loads((demo_logs / "planted.json").read_text())
    code, _, err = run("hunt", "--logs", str(demo_logs), "--until", planted["end"], "--format", "json")
    assert code == 0
    assert "unpublished-signing-key is silent" in err
    assert "consumer-key-for-org-app has no app metadata" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["hunt", "--logs", "/nonexistent/folder"], "is not a folder"),
        (["hunt", "--logs", ".", "--since", "yesterday"], "is not an ISO 8601 time"),
        (["hunt", "--logs", ".", "--last", "24h", "--since", "2026-11-19T00:00:00Z"], "either --last"),
        (["hunt", "--logs", ".", "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-19T00:00:00Z"],
         "is not before"),
        (["hunt", "--logs", ".", "--rules", "no-such-rule"], "unknown rule 'no-such-rule'"),
        (["hunt", "--logs", ".", "--jwks", "/nonexistent.json"], "cannot read JWKS file"),
        (["demo-data", "--out", "x", "--users", "3"], "at least 10"),
        (["hunt"], "one of the arguments --logs --workspace-id --cluster is required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code, _, err = run(*argv)
    except SystemExit as exit_:
        code, err = int(exit_.code or 0), capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_malformed_export_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "SigninLogs.jsonl").write_text('{"TimeGenerated": "2026-11-19T00:00:00Z"}\n{not json\n')
    code, _, err = run("hunt", "--logs", str(tmp_path), "--since", "2026-11-18T00:00:00Z",
                       "--until", "2026-11-20T00:00:00Z")
    assert code == 2
    assert "SigninLogs.jsonl:2: malformed JSON" in err
    assert len(err.strip().splitlines()) == 1


def test_the_installed_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "shared.cli.main", "hunt", "--logs", str(tmp_path / "missing")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("tokenwarden: error:") and "Traceback" not in result.stderr


def test_rules_catalogue_in_docs_is_current() -> None:
    code, out, _ = run("rules", "--format", "markdown")
    assert code == 0
    assert (Path(__file__).resolve().parents[2] / "docs" / "rules.md").read_text() == out


def test_rules_render_for_log_analytics_binds_the_window_as_lets() -> None:
    code, out, err = run("rules", "render", "compromised-signing-key", "--for", "log-analytics",
                         "--since", "2026-11-20T00:00:00Z", "--until", "2026-11-20T01:00:00Z")
    assert (code, err) == (0, "")
    assert "declare query_parameters" not in out
    assert "let window_start = datetime(2026-11-20T00:00:00.0000000Z);" in out
    assert "let window_end = datetime(2026-11-20T01:00:00.0000000Z);" in out
    assert 'let compromised_thumbprints = dynamic([@"d4b4cccda9228624656bff33d8110955779632aa"]);' in out


def test_rules_render_for_sentinel_is_what_the_bicep_deploys() -> None:
    code, out, _ = run("rules", "render", "token-without-sign-in", "--for", "sentinel")
    deployed = json.loads((Path(__file__).resolve().parents[2] / "infra" / "sentinel" / "analytic-rules.json")
                          .read_text(encoding="utf-8"))
    assert code == 0
    assert out == next(r["query"] for r in deployed["rules"] if r["id"] == "token-without-sign-in")
    assert "let window_start = datetime(null);" in out and "let signin_lookback = 28h;" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["rules", "render", "no-such-rule", "--for", "sentinel"], "unknown rule 'no-such-rule'"),
        (["rules", "render", "token-without-sign-in", "--for", "sentinel", "--since", "2026-11-20T00:00:00Z"],
         "for --for log-analytics only"),
        (["rules", "render", "token-without-sign-in", "--for", "log-analytics", "--since", "2026-11-20T00:00:00Z"],
         "give both --since and --until"),
    ],
)
def test_rules_render_refuses_bad_input_in_one_line(argv: list[str], message: str) -> None:
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1
@pytest.fixture(scope="module")
def hostile_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x00")
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "deep-keys.json").write_text('{"keys": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (folder / "logs").mkdir()
    return folder


@pytest.mark.parametrize(("args", "message"), [
    (["--jwks", "{f}/binary.json", "--last", "1h"], "JWKS file is not UTF-8 text"),
    (["--apps", "{f}/binary.json", "--last", "1h"], "apps file is not UTF-8 text"),
    (["--jwks", "{f}/deep-keys.json", "--last", "1h"], "JWKS file is nested too deeply"),
    (["--apps", "{f}/deep.json", "--last", "1h"], "apps file is nested too deeply"),
    (["--since", "0001-01-01T00:00:00Z", "--until", "0001-01-02T00:00:00Z"], "outside the supported range"),
    (["--since", "0001-01-01T00:00:00+14:00"], "outside the supported range"),
    (["--until", "9999-12-31T23:59:59Z"], "outside the supported range"),
    (["--since", "2026-11-01T00:00:00", "--until", "2026-11-02T00:00:00Z"], "has no time zone"),
    (["--last", "0h"], "is an empty window"),
    (["--last", "99999999d"], "longer than 3650 days"),
])
def test_hostile_input_is_one_line_and_exit_2(hostile_files: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["hunt", "--logs", str(hostile_files / "logs"), *(a.format(f=hostile_files) for a in args)]
    try:
        code, _, err = run(*argv)
    except SystemExit as exit_:
        code, err = int(exit_.code or 0), capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_demo_data_refuses_an_end_outside_the_supported_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run("demo-data", "--out", "unused", "--end", "9999-12-31T00:00:00Z")
    assert exit_.value.code == 2 and "outside the supported range" in capsys.readouterr().err
