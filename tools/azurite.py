"""Run Azurite (the npm ``azurite`` storage emulator) for tests and local runs, and always stop it.

The ledger needs Azure Table Storage; locally that is Azurite with in-memory persistence, so every
run starts empty and leaves nothing on disk. Each service listens on a port the OS picks (``--*Port 0``),
read back from Azurite's startup lines, so parallel runs never collide over fixed ports::

    with Azurite() as endpoints:
        client = TableServiceClient.from_connection_string(endpoints.connection_string)

From the shell (``make demo``, ``.ci/run``), the command gets ``AzureWebJobsStorage`` set to the
emulator's connection string, and Azurite is stopped when it exits::

    python -m tools.azurite run -- tokenwarden demo

Azurite runs in its own process group, which ``stop()`` ends with SIGTERM and, if it lingers, SIGKILL;
on Linux the kernel also ends it when the thread that started it ends, so a killed test run leaves no
orphan (start it from a thread that lives as long as you need it: the main thread, a session fixture).
Needs Node and the npm package installed at the repo root (``make node-deps``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

__all__ = [
    "CONNECTION_SETTING",
    "DEV_ACCOUNT",
    "Azurite",
    "AzuriteEndpoints",
    "AzuriteError",
    "azurite_binary",
    "main",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
CONNECTION_SETTING = "AzureWebJobsStorage"
"""The app setting the Functions host and the ledger read a local connection string from."""

DEV_ACCOUNT = "devstoreaccount1"
# Azurite's fixed, publicly documented development account key; it protects nothing.
_DEV_ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_SERVICES = ("Blob", "Queue", "Table")
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (http://\S+)")
_INSTALL_HINT = "run `make node-deps` (npm ci) to install the azurite package"
_PR_SET_PDEATHSIG = 1


class AzuriteError(RuntimeError):
    """Azurite could not be started or did not answer; the message says what it printed."""


@dataclass(frozen=True, kw_only=True)
class AzuriteEndpoints:
    """Where a running Azurite listens, and the connection string for its development account."""

    blob: str
    queue: str
    table: str

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={_DEV_ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob}/{DEV_ACCOUNT};QueueEndpoint={self.queue}/{DEV_ACCOUNT};"
            f"TableEndpoint={self.table}/{DEV_ACCOUNT};"
        )


def azurite_binary(root: Path = REPO_ROOT) -> Path:
    binary = root / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        raise AzuriteError(f"{binary} is missing; {_INSTALL_HINT}")
    return binary


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux only: a pre-exec hook that has the kernel SIGTERM Azurite when the thread that started it
    ends (a killed test run included). ctypes is loaded here, in the parent, because importing in a
    child forked from a multi-threaded process can deadlock on the import lock."""
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_signal() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_signal


class Azurite:
    """One Azurite process (blob, queue and table), in memory, on loopback and OS-chosen ports."""

    def __init__(self, *, binary: Path | None = None, startup_timeout: float = 60.0) -> None:
        self._binary = binary
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._output: deque[str] = deque(maxlen=50)
        self._endpoints: dict[str, str] = {}
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self.endpoints: AzuriteEndpoints | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> AzuriteEndpoints:
        if self._process is not None:
            raise AzuriteError("this Azurite is already started")
        binary = self._binary or azurite_binary()
        command = [str(binary), "--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
                   "--silent"]
        for service in _SERVICES:
            name = service.lower()
            command += [f"--{name}Host", "127.0.0.1", f"--{name}Port", "0"]
        try:
            self._process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True, preexec_fn=_parent_death_signal(),  # noqa: PLW1509
            )
        except OSError as exc:
            raise AzuriteError(f"cannot run {binary}: {exc}; is Node.js installed?") from None
        self._reader = threading.Thread(target=self._read_output, name="azurite-output", daemon=True)
        self._reader.start()
        try:
            self.endpoints = self._wait_until_listening()
            self._wait_until_answering(self.endpoints.table)
        except BaseException:
            self.stop()
            raise
        return self.endpoints

    def _read_output(self) -> None:
        """Drain Azurite's output (so its pipe never fills) and note each service's address."""
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._output.append(line.rstrip())
            match = _LISTENING.search(line)
            if match:
                self._endpoints[match.group(1)] = match.group(2).rstrip("/")
                if len(self._endpoints) == len(_SERVICES):
                    self._ready.set()
        self._ready.set()  # the process ended: wake the waiter, which sees it has exited

    def _wait_until_listening(self) -> AzuriteEndpoints:
        assert self._process is not None
        if not self._ready.wait(self._startup_timeout) or len(self._endpoints) < len(_SERVICES):
            state = "exited" if self._process.poll() is not None else "did not report its ports"
            raise AzuriteError(f"Azurite {state}: {self._tail()}")
        return AzuriteEndpoints(blob=self._endpoints["Blob"], queue=self._endpoints["Queue"],
                                table=self._endpoints["Table"])

    def _wait_until_answering(self, url: str) -> None:
        """Any HTTP answer, even 4xx for an unauthenticated request, proves the service is serving."""
        deadline = time.monotonic() + self._startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/{DEV_ACCOUNT}/Tables", timeout=5):  # noqa: S310 - loopback
                    return
            except urllib.error.HTTPError:
                return
            except OSError as exc:
                if time.monotonic() > deadline or (self._process and self._process.poll() is not None):
                    raise AzuriteError(f"Azurite does not answer at {url}: {exc}; {self._tail()}") from None
                time.sleep(0.1)

    def _tail(self) -> str:
        return " | ".join(self._output) or "no output"

    def stop(self, *, timeout: float = 15.0) -> None:
        """SIGTERM Azurite's process group, SIGKILL it if it lingers, and reap it. Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)
        else:
            # Azurite itself exited; still end anything it left in its group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        if self._reader is not None:
            self._reader.join(timeout=timeout)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> AzuriteEndpoints:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def _raise_on_termination(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_command(command: Sequence[str]) -> int:
    """Start Azurite, run *command* with ``AzureWebJobsStorage`` set, stop Azurite; return the exit code."""
    previous = signal.signal(signal.SIGTERM, _raise_on_termination)
    try:
        with Azurite() as endpoints:
            environment = dict(os.environ)
            environment[CONNECTION_SETTING] = endpoints.connection_string
            print(f"azurite: table service at {endpoints.table}", file=sys.stderr)
            try:
                return subprocess.call(list(command), env=environment)  # noqa: S603 - the operator's command
            except OSError as exc:
                print(f"azurite: cannot run {command[0]}: {exc}", file=sys.stderr)
                return 127
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.azurite",
                                     description="Run a command against a throw-away Azurite.")
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="start Azurite, run COMMAND with AzureWebJobsStorage set, stop Azurite")
    run.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        parser.error("run needs a command after --")
    try:
        return run_command(command)
    except AzuriteError as exc:
        print(f"azurite: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
