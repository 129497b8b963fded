"""The hunt-from-files benchmark runs end to end on a tiny tenant (the scales themselves run only in make bench)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.files_bench import limit_bytes, print_files, run_files_bench


def test_the_files_bench_measures_every_layout_and_the_reuse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BENCH_FILE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_FILE_SEED_USERS", "10")
    monkeypatch.setenv("BENCH_FILE_SCALES", "20000")
    monkeypatch.setenv("BENCH_FILE_MEMORY_LIMIT", "512MiB")
    results = run_files_bench()
    assert [r["layout"] for r in results] == ["jsonl", "data-export", "parquet"]
    rows = {int(r["rows"]) for r in results}  # type: ignore[call-overload]
    assert len(rows) == 1 and 15_000 < rows.pop() < 30_000  # the same rows in every layout, near the scale
    for result in results:
        assert float(result["floor_seconds"]) > 0 and float(result["hunt_seconds"]) > 0  # type: ignore[arg-type]
        assert int(result["hunt_peak_rss"]) > 0  # type: ignore[call-overload]
    findings = {int(r["findings"]) for r in results}  # type: ignore[call-overload]
    assert len(findings) == 1 and findings.pop() > 0  # every layout finds the same planted attacks
    jsonl = results[0]
    assert jsonl["reused"] is True
    assert int(next(r for r in results if r["layout"] == "data-export")["files"]) > 20  # type: ignore[call-overload]
    print_files(results)
    assert "hunt from files" in capsys.readouterr().out


def test_the_limit_the_peak_is_held_to_reads_as_duckdb_reads_it() -> None:
    assert limit_bytes("8GB") == 8 * 10**9 and limit_bytes("512MiB") == 512 * 2**20
    assert limit_bytes(" 1.5 gib ") == int(1.5 * 2**30)
    with pytest.raises(ValueError, match="not a size"):
        limit_bytes("8 gigs")
