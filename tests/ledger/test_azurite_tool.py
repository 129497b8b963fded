"""tools/azurite.py: Azurite starts on free loopback ports, serves tables, and never outlives its owner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tools.azurite import REPO_ROOT, Azurite, AzuriteError, azurite_binary

SAFETY_TIMEOUT = 60.0  # only bounds a hang; nothing asserts how long anything takes


def _serving(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/devstoreaccount1/Tables", timeout=5)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def test_azurite_serves_tables_on_loopback_and_stops_without_a_trace() -> None:
    from azure.data.tables import TableServiceClient

    instance = Azurite()
    endpoints = instance.start()
    pid = instance.pid
    assert pid is not None
    try:
        assert endpoints.table.startswith("http://127.0.0.1:")
        assert len({endpoints.blob, endpoints.queue, endpoints.table}) == 3
        with TableServiceClient.from_connection_string(endpoints.connection_string) as service:
            table = service.create_table_if_not_exists("Probe")
            table.upsert_entity({"PartitionKey": "p", "RowKey": "r", "ok": True})
            assert table.get_entity("p", "r")["ok"] is True
        with pytest.raises(AzuriteError, match="already started"):
            instance.start()
    finally:
        instance.stop()
    instance.stop()  # a second stop is harmless
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not _serving(endpoints.table)


def test_a_missing_install_or_runtime_is_named_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(AzuriteError, match=r"node_modules/.bin/azurite is missing; run `make node-deps`"):
        azurite_binary(tmp_path)
    with pytest.raises(AzuriteError, match=r"cannot run .*nope"):
        Azurite(binary=tmp_path / "nope").start()


def test_azurite_dies_with_the_process_that_started_it() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from tools.azurite import Azurite
            instance = Azurite()
            instance.start()
            print(instance.pid, flush=True)
            time.sleep(600)
        """)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        azurite = psutil.Process(int(owner.stdout.readline()))
        assert azurite.is_running()
    finally:
        owner.kill()  # SIGKILL: no chance to clean up; the kernel's parent-death signal must do it
        owner.wait()
    gone, alive = psutil.wait_procs([azurite], timeout=SAFETY_TIMEOUT)
    for process in alive:  # never leave one behind, even if the assertion below fails
        process.kill()
    assert gone and not alive


def test_run_gives_the_command_a_connection_string_and_passes_its_exit_code() -> None:
    child = textwrap.dedent("""
        import os, sys
        from azure.data.tables import TableServiceClient
        service = TableServiceClient.from_connection_string(os.environ["AzureWebJobsStorage"])
        service.create_table_if_not_exists("FromChild")
        print([t.name for t in service.list_tables()])
        sys.exit(3)
    """)
    result = subprocess.run(
        [sys.executable, "-m", "tools.azurite", "run", "--", sys.executable, "-c", child],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=SAFETY_TIMEOUT * 3, check=False)
    assert result.returncode == 3, result.stderr
    assert "FromChild" in result.stdout
    url = next(line.split(" at ")[1] for line in result.stderr.splitlines() if "table service at" in line)
    assert not _serving(url)  # stopped once the command ended


def test_run_without_a_command_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "tools.azurite", "run"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=SAFETY_TIMEOUT, check=False)
    assert result.returncode == 2 and "needs a command after --" in result.stderr


def test_sigterm_to_run_stops_azurite_too() -> None:
    runner = subprocess.Popen(
        [sys.executable, "-m", "tools.azurite", "run", "--", sys.executable, "-c", "import time; time.sleep(600)"],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert runner.stderr is not None
        line = runner.stderr.readline()
        assert "table service at" in line
        azurites = [p for p in psutil.Process(runner.pid).children(recursive=True)
                    if "node_modules/.bin/azurite" in " ".join(p.cmdline())]
        assert len(azurites) == 1
        os.kill(runner.pid, signal.SIGTERM)
        assert runner.wait(timeout=SAFETY_TIMEOUT) == 128 + signal.SIGTERM
        gone, alive = psutil.wait_procs(azurites, timeout=SAFETY_TIMEOUT)
        assert gone and not alive
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
            runner.wait()
