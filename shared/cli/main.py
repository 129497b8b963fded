"""The ``tokenwarden`` command line: hunt, inspect, demo-data, workspace serve, demo and rules.

Every failure a user can cause ends in one line on stderr and exit code 2; a
traceback means a bug in Tokenwarden, never in the input.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from shared.core.errors import TokenwardenError
from shared.core.timeparse import parse_duration, parse_instant

if TYPE_CHECKING:
    from shared.core.settings import Settings
    from shared.detect.apps import AppCatalog
    from shared.detect.keys.intel import KeyIntelligence
    from shared.detect.logsources.base import LogSource
    from shared.detect.logsources.duckdb.storage import Storage
    from shared.detect.ruleset import Rule

__all__ = ["main"]

EXIT_OK = 0
EXIT_INCOMPLETE = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error and no usage dump, as every other failure here."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _instant(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _duration(text: str) -> object:
    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value.total_seconds() <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is an empty window; give a duration longer than 0")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _memory_limit(text: str) -> str:
    from shared.detect.logsources.duckdb.storage import parse_memory_limit

    try:
        return parse_memory_limit(text)
    except TokenwardenError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--memory-limit ")) from None


def _add_storage_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--memory-limit", type=_memory_limit, metavar="SIZE",
                        help="most memory the embedded workspace may use before spilling to disk, e.g. 4GB "
                             "(default: half the machine's memory)")
    parser.add_argument("--workspace-dir", type=Path, metavar="DIR",
                        help="keep the loaded workspace on disk here (spilling there too), and reuse it while "
                             "the export files are unchanged")


_GUID_PREFIX = re.compile(r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})=(.+)$")


def _jwks_source(text: str) -> tuple[str | None, Path]:
    """``FILE``, or ``APPID=FILE`` for an app's own key set (``…/discovery/v2.0/keys?appid=APPID``)."""
    match = _GUID_PREFIX.match(text)
    if match:
        return match.group(1).lower(), Path(match.group(2))
    return None, Path(text)


def _jwks_history(text: str) -> tuple[datetime, str | None, Path]:
    """``TIME=[APPID=]FILE``: an earlier copy of a watched key set, and when it was last seen published."""
    when, separator, rest = text.partition("=")
    if not separator or not rest:
        raise argparse.ArgumentTypeError(f"{text!r} is not TIME=[APPID=]FILE")
    app_id, path = _jwks_source(rest)
    return _instant(when), app_id, path


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tokenwarden", description="Find and contain forged access tokens.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    hunt = commands.add_parser("hunt", help="run the detection rules over a workspace or exported logs")
    source = hunt.add_mutually_exclusive_group(required=True)
    source.add_argument("--logs", type=Path, metavar="DIR", help="folder of exported logs (embedded workspace)")
    source.add_argument("--workspace-id", metavar="ID", help="Log Analytics workspace id")
    source.add_argument("--cluster", metavar="URL",
                        help="Azure Data Explorer cluster (or Eventhouse query URI) holding the exported tables; "
                             "with --database (docs/adx.md)")
    hunt.add_argument("--jwks", type=_jwks_source, action="append", default=[], metavar="[APPID=]FILE",
                      help="JWKS document of a watched issuer, or APPID=FILE for an app's own keys "
                           "(…/discovery/v2.0/keys?appid=); repeatable; default: fetch for --workspace-id")
    hunt.add_argument("--jwks-history", type=_jwks_history, action="append", default=[],
                      metavar="TIME=[APPID=]FILE",
                      help="an earlier copy of a watched key set and when it was last seen published: a token "
                           "issued by then with a key since rotated out is not reported; repeatable")
    hunt.add_argument("--fetch-jwks", action="store_true", help="fetch the issuers' JWKS even with --logs")
    hunt.add_argument("--tenant-id", metavar="GUID", help="your Entra tenant id, for its own issuers' keys")
    hunt.add_argument("--apps", type=Path, action="append", default=[], metavar="FILE",
                      help="JSON list of servicePrincipal objects (appId, signInAudience)")
    hunt.add_argument("--since", type=_instant, metavar="T", help="window start, ISO 8601")
    hunt.add_argument("--until", type=_instant, metavar="T", help="window end, ISO 8601 (default now)")
    hunt.add_argument("--last", type=_duration, metavar="DURATION", help="window ending now, e.g. 24h")
    hunt.add_argument("--rules", metavar="ID,...", help="comma-separated rule ids (default: all)")
    hunt.add_argument("--allow-app", action="append", default=[], metavar="APPID",
                      help="app id whose Graph calls may lack a sign-in (repeatable)")
    hunt.add_argument("--format", choices=("table", "json", "jsonl"), default="table")
    hunt.add_argument("--output", type=Path, metavar="FILE", help="write findings here instead of stdout")
    hunt.add_argument("--timezone", metavar="ZONE",
                      help="IANA zone of CSV columns headed [Local Time] (e.g. Europe/Paris)")
    hunt.add_argument("--database", metavar="DB", help="the database in --cluster")
    hunt.add_argument("--endpoint", metavar="URL",
                      help="Log Analytics query API origin for --workspace-id (default: LOG_ANALYTICS_ENDPOINT, else "
                           "AZURE_CLOUD's); a loopback URL is a local `tokenwarden workspace serve` and gets a local "
                           "token, never a real one")
    _add_storage_options(hunt)

    inspect = commands.add_parser("inspect", help="show what hunt would load from a folder of exported logs")
    inspect.add_argument("--logs", type=Path, required=True, metavar="DIR")
    inspect.add_argument("--format", choices=("table", "json"), default="table")
    inspect.add_argument("--timezone", metavar="ZONE",
                         help="IANA zone of CSV columns headed [Local Time] (e.g. Europe/Paris)")
    _add_storage_options(inspect)

    data = commands.add_parser("demo-data", help="write realistic sample exports with planted attacks")
    data.add_argument("--out", type=Path, required=True, metavar="DIR")
    data.add_argument("--users", type=_positive_int, default=50, metavar="N")
    data.add_argument("--days", type=_positive_int, default=3, metavar="D")
    data.add_argument("--seed", type=int, default=7, metavar="S")
    data.add_argument("--end", type=_instant, metavar="T", help="last moment of data (default now)")

    workspace = commands.add_parser("workspace", help="the embedded local workspace")
    workspace_commands = workspace.add_subparsers(dest="workspace_command", required=True, parser_class=_Parser)
    serve = workspace_commands.add_parser("serve", help="serve the Log Analytics query API on 127.0.0.1")
    serve.add_argument("--logs", type=Path, required=True, metavar="DIR")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--workspace-id", default="00000000-0000-0000-0000-000000000000", metavar="ID")
    serve.add_argument("--cert", type=Path, metavar="PEM", help="TLS certificate (serves HTTPS)")
    serve.add_argument("--key", type=Path, metavar="PEM", help="TLS private key")
    serve.add_argument("--timezone", metavar="ZONE",
                       help="IANA zone of CSV columns headed [Local Time] (e.g. Europe/Paris)")

    simulate = commands.add_parser("simulate", help="serve a local Microsoft Graph tenant simulator on 127.0.0.1")
    simulate.add_argument("--tenant", type=Path, required=True, metavar="DIR",
                          help="folder written by demo-data (tenant.json, apps.json)")
    simulate.add_argument("--port", type=int, default=0)
    simulate.add_argument("--latency", type=float, default=0.0, metavar="SECONDS", help="added to every request")
    simulate.add_argument("--no-throttling", action="store_true", help="disable Graph's rate limits")
    simulate.add_argument("--limit-scale", type=float, default=1.0, metavar="FACTOR",
                          help="multiply Graph's documented rate limits by FACTOR")

    demo = commands.add_parser("demo", help="generate a tenant with planted attacks and hunt it")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), metavar="DIR")
    demo.add_argument("--users", type=_positive_int, default=50, metavar="N")

    adx = commands.add_parser("adx", help="Azure Data Explorer: set up a database for hunt --cluster (docs/adx.md)")
    adx_commands = adx.add_subparsers(dest="adx_command", required=True, parser_class=_Parser)
    adx_schema = adx_commands.add_parser(
        "schema", help="print the management script that creates the tables, turns IngestionTime on and adds "
                       "the data-export JSON mappings")
    adx_schema.add_argument("--tables", metavar="NAME,...", help="comma-separated tables (default: every schema)")
    adx_schema.add_argument("--mapping", default="TokenwardenDataExport", metavar="NAME",
                            help="name of the JSON ingestion mapping (default: %(default)s)")

    rules = commands.add_parser("rules", help="list the detection rules, or render one for a target")
    rules.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    rules_commands = rules.add_subparsers(dest="rules_command", parser_class=_Parser)
    render = rules_commands.add_parser(
        "render", help="print the text a target receives for a rule",
        description="log-analytics: exactly what the scan and hunt send (with --since/--until, --jwks and --apps "
                    "bound as a hunt binds them; the rule's defaults otherwise). sentinel: exactly what the "
                    "Sentinel analytic rule deploys.")
    render.add_argument("rule_id", metavar="ID")
    render.add_argument("--for", dest="target", choices=("log-analytics", "sentinel"), required=True)
    render.add_argument("--since", type=_instant, metavar="T", help="window start, ISO 8601 (log-analytics)")
    render.add_argument("--until", type=_instant, metavar="T", help="window end, ISO 8601 (log-analytics)")
    render.add_argument("--jwks", type=_jwks_source, action="append", default=[], metavar="[APPID=]FILE",
                        help="an issuer's JWKS, or APPID=FILE an app's own (repeatable; log-analytics)")
    render.add_argument("--apps", type=Path, action="append", default=[], metavar="FILE",
                        help="JSON list of servicePrincipal objects (log-analytics)")
    return parser


def _window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    from datetime import timedelta

    now = datetime.now(UTC)
    if args.last is not None and (args.since is not None or args.until is not None):
        raise TokenwardenError("give either --last or --since/--until, not both")
    if args.last is not None:
        assert isinstance(args.last, timedelta)
        return now - args.last, now
    until = args.until or now
    since = args.since or until - timedelta(hours=24)
    if since >= until:
        raise TokenwardenError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    return since, until


def _key_intelligence(jwks: Sequence[tuple[str | None, Path]], settings: Settings, *, fetch: bool,
                      apps: AppCatalog | None = None, tenant_id: str | None = None) -> KeyIntelligence:
    """The keys ``--jwks`` names (``APPID=FILE``: an app's own set), or (``fetch``) the issuers' published keys and
    the catalogue apps' own keys fetched now; and the compromised list."""
    from shared.detect.keys.compromised import load_compromised_keys
    from shared.detect.keys.discovery import JwksFetcher, default_discovery_urls
    from shared.detect.keys.intel import KeyIntelligence
    from shared.detect.keys.jwks import read_jwks_file

    published = [key for app_id, path in jwks for key in read_jwks_file(path, app_id=app_id)]
    failures: list[str] = []
    if fetch:
        tenant = tenant_id or settings.entra_tenant_id
        authority = settings.cloud.authority_host
        fetcher = JwksFetcher()
        outcomes = [fetcher.fetch_all(default_discovery_urls(tenant, authority))]
        if apps is not None:  # apps with claims mapping sign with keys only their own endpoint publishes
            outcomes.append(fetcher.fetch_apps([app.app_id for app in apps.apps], tenant, authority))
        for outcome in outcomes:
            published.extend(outcome.keys)
            failures.extend(outcome.failures)
    return KeyIntelligence(published=tuple(published),
                           compromised=load_compromised_keys(settings.extra_compromised_keys),
                           failures=tuple(failures))


def _with_history(keys: KeyIntelligence,
                  copies: Sequence[tuple[datetime, str | None, Path]]) -> KeyIntelligence:
    """*keys* with the offline key history that ``--jwks-history`` copies give (the scan reads KeySnapshots)."""
    from dataclasses import replace

    from shared.detect.keys.history import retired_from_snapshots
    from shared.detect.keys.jwks import read_jwks_file

    snapshots = [(when, read_jwks_file(path, app_id=app_id)) for when, app_id, path in copies]
    return replace(keys, retired=retired_from_snapshots(snapshots, published_now=keys.published_keys()))


def _app_catalog(paths: Sequence[Path]) -> AppCatalog | None:
    from shared.detect.apps import merge_catalogs, read_apps_file

    return merge_catalogs(read_apps_file(path) for path in paths) if paths else None


def _hunt(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from shared.cli.render import render_report
    from shared.core.settings import load_settings
    from shared.detect.hunt import HuntContext, run_hunt
    from shared.detect.logsources.base import TimeRange
    from shared.detect.ruleset import load_rules

    settings = load_settings(os.environ)
    _check_source_options(args)
    start, end = _window(args)
    rule_ids = [r.strip() for r in args.rules.split(",") if r.strip()] if args.rules else None
    rules = load_rules().select(rule_ids)

    apps = _app_catalog(args.apps)
    keys = _key_intelligence(args.jwks, settings, fetch=not args.jwks and (args.logs is None or args.fetch_jwks),
                             apps=apps, tenant_id=args.tenant_id)
    if args.jwks_history:
        keys = _with_history(keys, args.jwks_history)
    context = HuntContext(keys=keys, apps=apps,
                          graph_allowlist_apps=(*settings.graph_allowlist_apps, *args.allow_app))

    source: LogSource
    if args.logs is not None:
        from shared.detect.logsources.local import LocalWorkspace

        if not args.logs.is_dir():
            raise TokenwardenError(f"--logs {args.logs} is not a folder")
        from shared.detect.logsources.duckdb.columns_used import columns_used

        show = args.format == "table" or args.output is not None
        workspace = LocalWorkspace.from_exports(
            args.logs, on_progress=(lambda message: print(f"  loading {message}", file=stderr)) if show else None,
            timezone=args.timezone, columns=columns_used(rules), storage=_storage(args))
        if workspace.reused:
            print(f"tokenwarden: reusing the workspace in {args.workspace_dir}: no export file changed", file=stderr)
        _report_load(workspace, stderr)
        source = workspace
    else:
        source = _remote_source(args, os.environ)

    def progress(index: int, total: int, rule: object, run: object) -> None:
        from shared.detect.hunt import RuleRun

        if isinstance(run, RuleRun):
            print(f"  [{index}/{total}] {run.rule_id}: {run.findings} findings in {run.elapsed_seconds:.2f}s"
                  + ("" if run.status == "complete" else f" ({run.status})"), file=stderr)

    try:
        report = run_hunt(source, rules, window=TimeRange(start=start, end=end), context=context,
                          on_progress=progress if args.format == "table" or args.output else None, coverage=True)
    finally:
        source.close()
    if args.output is not None:
        with args.output.open("w", encoding="utf-8") as handle:
            render_report(report, args.format, handle)
        print(f"wrote {len(report.findings)} findings to {args.output}", file=stderr)
    else:
        render_report(report, args.format, stdout)
    _report_coverage(report, getattr(source, "report", None), stderr)
    if args.format != "table":
        for run in report.runs:
            if run.status != "complete":
                print(f"tokenwarden: {run.status.replace('_', ' ')}: {run.rule_id}: {run.message}", file=stderr)
        for warning in report.warnings:
            print(f"tokenwarden: note: {warning}", file=stderr)
    return EXIT_OK if report.complete else EXIT_INCOMPLETE


def _storage(args: argparse.Namespace) -> Storage:
    from shared.detect.logsources.duckdb.storage import Storage

    return Storage(memory_limit=args.memory_limit, workspace_dir=args.workspace_dir)


def _check_source_options(args: argparse.Namespace) -> None:
    if args.cluster is not None and not args.database:
        raise TokenwardenError("--cluster needs --database, the database holding the tables")
    if args.database is not None and args.cluster is None:
        raise TokenwardenError("--database goes with --cluster")
    if args.endpoint is not None and args.workspace_id is None:
        raise TokenwardenError("--endpoint goes with --workspace-id")


def _remote_source(args: argparse.Namespace, environ: Mapping[str, str]) -> LogSource:
    """The workspace or cluster the options name, built as the timer builds its source from settings
    (:func:`shared.jobs.wiring.build_log_source`): the same validation, and the local token for a loopback endpoint."""
    from shared.core.settings import load_settings
    from shared.jobs.wiring import build_log_source

    overlay = {**environ, "LOCAL_LOGS_DIR": ""}
    if args.cluster is not None:
        overlay.update(ADX_CLUSTER_URI=args.cluster, ADX_DATABASE=args.database)
    else:
        overlay.update(ADX_CLUSTER_URI="", ADX_DATABASE="", LOG_ANALYTICS_WORKSPACE_ID=args.workspace_id)
        if args.endpoint is not None:
            overlay["LOG_ANALYTICS_ENDPOINT"] = args.endpoint
    return build_log_source(load_settings(overlay))


def _report_coverage(report: object, loaded: object, stderr: TextIO) -> None:
    """Each rule's input rows inside its timespan, per table; and where the data is when the window missed it."""
    from shared.detect.hunt import HuntReport
    from shared.detect.logsources.duckdb.loader import LoadReport

    assert isinstance(report, HuntReport)
    print("tokenwarden: coverage (input rows inside each rule's timespan):", file=stderr)
    for run in report.runs:
        tables = ", ".join(f"{c.table}={'missing' if c.rows is None else c.rows}" for c in run.coverage)
        print(f"  {run.rule_id}: {tables}" + ("  (no input)" if run.status == "no_input" else ""), file=stderr)
    if not isinstance(loaded, LoadReport) or not any(run.status == "no_input" for run in report.runs):
        return
    span = loaded.time_range
    if span is None:
        print("tokenwarden: note: no loaded row has a time; see tokenwarden inspect --logs", file=stderr)
        return
    first, last = (value.replace(tzinfo=UTC) for value in span)
    if last < report.window.start or first >= report.window.end:
        print(f"tokenwarden: note: the window {report.window.start:%Y-%m-%dT%H:%M:%SZ} .. "
              f"{report.window.end:%Y-%m-%dT%H:%M:%SZ} misses the loaded data entirely, which spans "
              f"{first:%Y-%m-%dT%H:%M:%SZ} .. {last:%Y-%m-%dT%H:%M:%SZ}; give --since/--until inside it",
              file=stderr)


def _inspect(args: argparse.Namespace, stdout: TextIO) -> int:
    import json

    from shared.detect.logsources.duckdb.inventory import inventory_complete, inventory_json, render_inventory
    from shared.detect.logsources.local import LocalWorkspace

    if not args.logs.is_dir():
        raise TokenwardenError(f"--logs {args.logs} is not a folder")
    workspace = LocalWorkspace.from_exports(args.logs, timezone=args.timezone, storage=_storage(args))
    try:
        report = workspace.report
    finally:
        workspace.close()
    assert report is not None  # from_exports always has one
    if args.format == "json":
        json.dump(inventory_json(report), stdout, indent=2)
        stdout.write("\n")
    else:
        render_inventory(report, stdout)
    return EXIT_OK if inventory_complete(report) else EXIT_INCOMPLETE


def _report_load(workspace: object, stderr: TextIO) -> None:
    """Say what the export folder held that the schemas do not know: a misnamed file is otherwise invisible."""
    report = getattr(workspace, "report", None)
    if report is None:
        return
    print(f"tokenwarden: loaded {report.total_rows} rows from {len(report.files)} files", file=stderr)
    if report.unknown_tables:
        print(f"tokenwarden: note: unknown tables (no schema, loaded as found): {', '.join(report.unknown_tables)}",
              file=stderr)
    for table, columns in sorted(report.unknown_columns.items()):
        print(f"tokenwarden: note: {table} has columns the schema does not know: {', '.join(columns)}", file=stderr)
    for load in report.loads:
        for note in load.notes:
            print(f"tokenwarden: note: {note}", file=stderr)
        if load.rows_without_time:
            print(f"tokenwarden: warning: {load.table}: {load.rows_without_time} rows have no TimeGenerated, "
                  "so no rule can see them", file=stderr)
    for item in report.skipped:
        print(f"tokenwarden: skipped {item.relative}: {item.reason}", file=stderr)


def _demo_data(args: argparse.Namespace, stdout: TextIO) -> int:
    from shared.devkit.demo_data.generate import generate_demo_data

    try:
        summary = generate_demo_data(args.out, users=args.users, days=args.days, seed=args.seed, end=args.end)
    except ValueError as exc:
        raise TokenwardenError(str(exc)) from None
    total = sum(summary.rows.values())
    print(f"wrote {total} rows to {summary.folder} "
          f"({', '.join(f'{t}={n}' for t, n in sorted(summary.rows.items()))})", file=stdout)
    attacks = sum(1 for case in summary.planted if case.kind == "attack")
    print(f"planted {attacks} attacks and {len(summary.planted) - attacks} look-alikes; see planted.json",
          file=stdout)
    return EXIT_OK


def _serve(args: argparse.Namespace, stderr: TextIO) -> int:
    from shared.detect.logsources.local import LocalWorkspace
    from shared.devkit.workspace_server.server import LogAnalyticsServer, serve

    if (args.cert is None) != (args.key is None):
        raise TokenwardenError("--cert and --key go together")
    workspace = LocalWorkspace.from_exports(args.logs, timezone=args.timezone)
    scheme = "https" if args.cert else "http"

    def ready(server: LogAnalyticsServer) -> None:
        host, port = server.server_address[:2]
        print(f"serving the Log Analytics query API at {scheme}://{host}:{port}/v1/workspaces/{args.workspace_id}"
              "/query (Ctrl-C stops)", file=stderr, flush=True)

    try:
        serve(workspace, workspace_id=args.workspace_id, port=args.port, certfile=args.cert, keyfile=args.key,
              ready=ready)
    finally:
        workspace.close()
    return EXIT_OK


def _simulate(args: argparse.Namespace, stdout: TextIO) -> int:
    from dataclasses import replace

    from shared.devkit.simulator import SimulatorServer, load_tenant_state, serve_simulator
    from shared.devkit.simulator.throttling import default_limits

    if args.latency < 0 or args.limit_scale <= 0:
        raise TokenwardenError("--latency must be ≥ 0 and --limit-scale > 0")
    state = load_tenant_state(args.tenant)
    limits = None
    if args.no_throttling:
        limits = dict.fromkeys(default_limits(len(state.users())))
    elif args.limit_scale != 1.0:
        limits = {family: replace(limit, capacity=limit.capacity * args.limit_scale)
                  for family, limit in default_limits(len(state.users())).items()}

    def ready(server: SimulatorServer) -> None:
        print(f"Graph simulator at {server.graph_url} (Ctrl-C stops)", file=stdout, flush=True)

    serve_simulator(state, port=args.port, latency=args.latency, limits=limits, ready=ready)
    return EXIT_OK


def _demo(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from shared.devkit.demo import run_demo

    return run_demo(args.out, users=args.users, stdout=stdout, stderr=stderr, environ=os.environ)


def _adx_schema(args: argparse.Namespace, stdout: TextIO) -> int:
    from shared.detect.logsources.adx_schema import schema_script

    tables = [name.strip() for name in args.tables.split(",") if name.strip()] if args.tables else None
    stdout.write(schema_script(tables, mapping=args.mapping))
    return EXIT_OK


def _rules(args: argparse.Namespace, stdout: TextIO) -> int:
    import json

    from shared.detect.ruleset import load_rules

    rules = load_rules()
    if args.rules_command == "render":
        return _render_rule(args, rules.get(args.rule_id), stdout)
    if args.format == "markdown":
        from shared.detect.rule_docs import rules_markdown

        stdout.write(rules_markdown(rules))
        return EXIT_OK
    if args.format == "json":
        json.dump([{"id": r.id, "title": r.meta.title, "severity": r.meta.severity, "tables": r.meta.tables,
                    "techniques": r.meta.techniques} for r in rules], stdout, indent=2)
        stdout.write("\n")
        return EXIT_OK
    for rule in rules:
        stdout.write(f"{rule.id:<32} {rule.meta.severity:<7} {rule.meta.title}\n")
    return EXIT_OK


def _render_rule(args: argparse.Namespace, rule: Rule, stdout: TextIO) -> int:
    from shared.core.settings import load_settings
    from shared.detect.hunt import HuntContext, rule_parameters
    from shared.detect.logsources.base import TimeRange
    from shared.detect.rule_forms import render_rule

    if args.target == "sentinel":
        if args.since or args.until or args.jwks or args.apps:
            raise TokenwardenError("--since, --until, --jwks and --apps bind values for --for log-analytics only")
        stdout.write(render_rule(rule, "sentinel"))
        return EXIT_OK
    values: dict[str, object] = {}
    if args.since is not None or args.until is not None:
        if args.since is None or args.until is None:
            raise TokenwardenError("give both --since and --until, or neither (the rule's own default window)")
        if args.since >= args.until:
            raise TokenwardenError(f"--since {args.since.isoformat()} is not before --until {args.until.isoformat()}")
        window = TimeRange(start=args.since, end=args.until)
        settings = load_settings(os.environ)
        context = HuntContext(keys=_key_intelligence(args.jwks, settings, fetch=False),
                              apps=_app_catalog(args.apps), graph_allowlist_apps=settings.graph_allowlist_apps)
        available, _ = context.values()
        values = rule_parameters(rule, window, available)
    elif args.jwks or args.apps:
        raise TokenwardenError("--jwks and --apps are bound with a window: give --since and --until too")
    stdout.write(render_rule(rule, "log-analytics", values))
    return EXIT_OK


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "hunt":
            return _hunt(args, out, err)
        if args.command == "inspect":
            return _inspect(args, out)
        if args.command == "demo-data":
            return _demo_data(args, out)
        if args.command == "workspace":
            return _serve(args, err)
        if args.command == "demo":
            return _demo(args, out, err)
        if args.command == "simulate":
            return _simulate(args, out)
        if args.command == "adx":
            return _adx_schema(args, out)
        return _rules(args, out)
    except TokenwardenError as exc:
        print(f"tokenwarden: error: {exc}", file=err)
        return EXIT_USAGE
    except OSError as exc:
        print(f"tokenwarden: error: {exc.filename or ''}: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tokenwarden: interrupted", file=err)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
