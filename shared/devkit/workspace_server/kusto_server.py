"""A local stand-in for an Azure Data Explorer cluster: duckdb-kql's own Kusto REST server over loaded exports.

duckdb-kql ships a Kusto REST endpoint (``duckdb_kql.server.KustoRestServer``: ``/v1/rest/mgmt`` and
``/v2/rest/query`` with the v2 frame protocol, loopback only) that ``azure-kusto-data``'s ``KustoClient``
talks to unchanged, which is how the ADX source (:mod:`shared.detect.logsources.adx`) is tested without a cluster.
This module adds only what the workspace's tables need to behave as an ADX database whose tables have
the IngestionTime policy on (docs/adx.md):

* ``ingestion_time()`` reads each row's arrival time: duckdb-kql has no mapping for the function, so
  each call is rewritten to the loader's hidden arrival column, as the local workspace does
  (:mod:`shared.detect.logsources.duckdb.arrival`);
* that column stays hidden, as ``$IngestionTime`` is in ADX
  (``data-explorer/kusto/management/alter-ingestion-time-policy-command.md``: "a hidden datetime column"):
  it is dropped from every result.

Everything else, the refusals included (an unknown table, a construct duckdb-kql cannot translate,
request options it does not honour), is duckdb-kql's. Dev kit only: the deployment never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.core.errors import ConfigurationError

if TYPE_CHECKING:
    from duckdb_kql.server import KustoRestServer

__all__ = ["build_kusto_server", "load_database"]


def load_database(folder: Path, database: Path, *, timezone: str | None = None) -> Path:
    """Load the exports in *folder* into a new DuckDB file *database* (named as the Kusto database it serves:
    ``<name>.duckdb`` serves ``<name>``) and return its path."""
    from shared.detect.logsources.local import LocalWorkspace

    LocalWorkspace.from_exports(folder, database=database, timezone=timezone).close()
    return database


def build_kusto_server(database: Path, *, port: int = 0, quiet: bool = True) -> KustoRestServer:
    """A server on 127.0.0.1 (*port* 0: one the OS picks) over *database*, read-only; call ``serve_forever``.

    The Kusto database it answers for is the file's stem (duckdb-kql's rule).
    """
    import duckdb_kql
    from duckdb_kql.control import is_control_command
    from duckdb_kql.server import KustoRestServer, Result

    from shared.detect.logsources.duckdb.arrival import INGESTION_TIME_COLUMN, rewrite_ingestion_time

    if not database.is_file():
        raise ConfigurationError(f"{database} does not exist; load exports into it first")

    class _IngestionTimeServer(KustoRestServer):
        def run(self, csl: str, parameters: dict[str, Any] | None = None, database: str | None = None,
                options: dict[str, Any] | None = None) -> Result:
            text = csl if is_control_command(csl) else rewrite_ingestion_time(csl)
            result = super().run(text, parameters, database, options)
            keep = [index for index, column in enumerate(result.columns) if column.name != INGESTION_TIME_COLUMN]
            if len(keep) == len(result.columns):
                return result
            return Result([result.columns[i] for i in keep], [[row[i] for i in keep] for row in result.rows])

    connection = duckdb_kql.connect(str(database), read_only=True, config={"enable_external_access": False})
    try:
        return _IngestionTimeServer(connection, port=port, source=str(database), quiet=quiet)
    except BaseException:
        connection.close()
        raise
