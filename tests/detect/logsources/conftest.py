"""Fixtures for the workspace tests: export folders, TLS material, a running local API server."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from azure.core.credentials import AccessToken

from shared.detect.logsources.base import LogSource
from shared.devkit.workspace_server.server import LogAnalyticsServer, build_server
from tests.support.servers import running

WORKSPACE_ID = "11111111-2222-3333-4444-555555555555"
TOKEN = "local-test-token"


class Exports:
    """Writes export files the way Log Analytics tooling does, into one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def jsonl(self, name: str, rows: Sequence[Mapping[str, object]]) -> Path:
        path = self.folder / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        return path

    def json(self, name: str, rows: Sequence[Mapping[str, object]]) -> Path:
        path = self.folder / name
        path.write_text(json.dumps(list(rows), indent=2), encoding="utf-8")
        return path

    def csv(self, name: str, header: Sequence[str], rows: Sequence[Sequence[object]], *, bom: bool = True) -> Path:
        path = self.folder / name
        with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
            writer = csv.writer(handle, quoting=csv.QUOTE_MINIMAL)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    def text(self, name: str, content: str) -> Path:
        path = self.folder / name
        path.write_text(content, encoding="utf-8")
        return path

    def parquet(self, name: str, columns: Mapping[str, Any]) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.folder / name
        pq.write_table(pa.table(dict(columns)), path)
        return path


@pytest.fixture
def exports(tmp_path: Path) -> Exports:
    return Exports(tmp_path / "exports")


class StaticCredential:
    """A TokenCredential that always returns the same token, for the local server."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass(frozen=True)
class TlsFiles:
    certfile: Path
    cafile: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    folder = tmp_path_factory.mktemp("tls")
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    certfile, cafile = folder / "server.pem", folder / "ca.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    authority.cert_pem.write_to_path(str(cafile))
    return TlsFiles(certfile=certfile, cafile=cafile)


ServerFactory = Callable[..., LogAnalyticsServer]


@pytest.fixture
def serve() -> Iterator[ServerFactory]:
    """Start ``build_server(workspace, ...)`` on a background thread; stopped at teardown."""
    with ExitStack() as stack:

        def start(workspace: LogSource, **options: Any) -> LogAnalyticsServer:
            options.setdefault("workspace_id", WORKSPACE_ID)
            return stack.enter_context(running(build_server(workspace, **options)))

        yield start
