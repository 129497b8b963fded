"""``make demo`` as a job: the whole local main job in a subprocess, exactly as the Makefile runs it.

Azurite, the local workspace endpoint and the tenant simulator start, the real function objects run, and the
job must stop everything it started: no child of this test and no process carrying the run's marker (which
every descendant inherits through its environment, even one orphaned and re-parented) may survive it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
MARKER = "TOKENWARDEN_DEMO_JOB_RUN"


def _carrying(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARKER) == marker:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.slow
def test_demo_job_contains_cases_reports_them_and_leaves_no_process_behind(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    environment = {**os.environ, MARKER: marker}
    environment.pop("AzureWebJobsStorage", None)  # the wrapper gives the job its own Azurite
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "tools.azurite", "run", "--",
         sys.executable, "-m", "tools.function_demo", "--out", str(out), "--users", "20"],
        cwd=REPO, env=environment, capture_output=True, text=True, check=False)
    summary = result.stdout

    assert result.returncode == 0, f"{summary[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
    assert "demo passed" in summary
    # The demo tenant signs as Entra does (RSA, RS256): its tokens verify, and a consumer key is flagged.
    assert re.search(r"token signed with the tenant's own key for .*: 200 valid \(signature verified: True\)",
                     summary), summary
    assert re.search(r"token signed with a consumer \(MSA\) key for .*: 200 consumer_key_for_org_app", summary), summary
    assert re.search(r"Planted attacks the scan found through the endpoint: (\d+)/\1;", summary), summary
    contained = re.search(r"Contained cases: (\d+)/(\d+)", summary)
    assert contained and int(contained.group(1)) > 0, summary
    incidents = re.search(r"Sentinel incidents: (\d+), comments: (\d+)", summary)
    assert incidents and int(incidents.group(1)) > 0 and int(incidents.group(2)) > 0, summary
    assert re.search(r"Site restarts: \S+ x\d+", summary), summary
    assert "Events published to the Event Grid topic:" in summary

    report = (out / "report.html").read_text(encoding="utf-8")
    table = re.findall(r"^(case-[0-9a-z-]+)\s{2,}(\w+)", summary, flags=re.MULTILINE)
    assert table, summary
    assert any(state == "contained" for _, state in table)
    missing = sorted({case_id for case_id in re.findall(r"case-[0-9a-z]+-[0-9a-f]+-\d+", summary)
                      if case_id not in report})
    assert not missing, f"report.html does not name {missing}"

    survivors = [child for child in psutil.Process().children(recursive=True) if child.pid not in before]
    survivors += [process for process in _carrying(marker) if process not in survivors]
    assert not survivors, [(p.pid, p.name(), p.cmdline()) for p in survivors if p.is_running()]
