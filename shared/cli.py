"""The ``tokenwarden`` command line: hunt, demo-data, workspace serve, demo and rules.

Every failure a user can cause ends in one line on stderr and exit code 2; a
traceback means a bug in Tokenwarden, never in the input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn, TextIO

from shared.errors import TokenwardenError
from shared.timeparse import parse_duration, parse_instant

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


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tokenwarden", description="Find and contain forged access tokens.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    hunt = commands.add_parser("hunt", help="run the detection rules over a workspace or exported logs")
    source = hunt.add_mutually_exclusive_group(required=True)
    source.add_argument("--logs", type=Path, metavar="DIR", help="folder of exported logs (embedded workspace)")
    source.add_argument("--workspace-id", metavar="ID", help="Log Analytics workspace id")
    hunt.add_argument("--jwks", type=Path, action="append", default=[], metavar="FILE",
                      help="JWKS document of a watched issuer (repeatable); default: fetch for --workspace-id")
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
    hunt.add_argument("--endpoint", metavar="URL", help=argparse.SUPPRESS)

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

    rules = commands.add_parser("rules", help="list the detection rules")
    rules.add_argument("--format", choices=("table", "json", "markdown"), default="table")
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


def _hunt(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from shared.apps import merge_catalogs, read_apps_file
    from shared.hunt import HuntContext, run_hunt
    from shared.keys.compromised import load_compromised_keys
    from shared.keys.discovery import JwksFetcher, default_discovery_urls
    from shared.keys.intel import KeyIntelligence
    from shared.keys.jwks import read_jwks_file
    from shared.logsources.base import LogSource, TimeRange
    from shared.render import render_report
    from shared.ruleset import load_rules
    from shared.settings import load_settings

    settings = load_settings(os.environ)
    start, end = _window(args)
    rule_ids = [r.strip() for r in args.rules.split(",") if r.strip()] if args.rules else None
    rules = load_rules().select(rule_ids)

    published = [key for path in args.jwks for key in read_jwks_file(path)]
    failures: list[str] = []
    if not args.jwks and (args.workspace_id or args.fetch_jwks):
        outcome = JwksFetcher().fetch_all(default_discovery_urls(args.tenant_id or settings.entra_tenant_id))
        published.extend(outcome.keys)
        failures.extend(outcome.failures)
    keys = KeyIntelligence(published=tuple(published),
                           compromised=load_compromised_keys(settings.extra_compromised_keys),
                           failures=tuple(failures))
    apps = merge_catalogs(read_apps_file(path) for path in args.apps) if args.apps else None
    context = HuntContext(keys=keys, apps=apps,
                          graph_allowlist_apps=(*settings.graph_allowlist_apps, *args.allow_app))

    source: LogSource
    if args.logs is not None:
        from shared.logsources.local import LocalWorkspace

        if not args.logs.is_dir():
            raise TokenwardenError(f"--logs {args.logs} is not a folder")
        show = args.format == "table" or args.output is not None
        workspace = LocalWorkspace.from_exports(
            args.logs, on_progress=(lambda message: print(f"  loading {message}", file=stderr)) if show else None)
        _report_load(workspace, stderr)
        source = workspace
    else:
        from shared.logsources.log_analytics import LogAnalyticsSource

        source = LogAnalyticsSource(workspace_id=args.workspace_id, endpoint=args.endpoint)

    def progress(index: int, total: int, rule: object, run: object) -> None:
        from shared.hunt import RuleRun

        if isinstance(run, RuleRun):
            print(f"  [{index}/{total}] {run.rule_id}: {run.findings} findings in {run.elapsed_seconds:.2f}s"
                  + ("" if run.status == "complete" else f" ({run.status})"), file=stderr)

    try:
        report = run_hunt(source, rules, window=TimeRange(start=start, end=end), context=context,
                          on_progress=progress if args.format == "table" or args.output else None)
    finally:
        source.close()
    if args.output is not None:
        with args.output.open("w", encoding="utf-8") as handle:
            render_report(report, args.format, handle)
        print(f"wrote {len(report.findings)} findings to {args.output}", file=stderr)
    else:
        render_report(report, args.format, stdout)
    if args.format != "table":
        for run in report.runs:
            if run.status != "complete":
                print(f"tokenwarden: {run.status}: {run.rule_id}: {run.message}", file=stderr)
        for warning in report.warnings:
            print(f"tokenwarden: note: {warning}", file=stderr)
    return EXIT_OK if report.complete else EXIT_INCOMPLETE


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


def _demo_data(args: argparse.Namespace, stdout: TextIO) -> int:
    from shared.demo_data.generate import generate_demo_data

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
    from shared.logsources.local import LocalWorkspace
    from shared.workspace.server import LogAnalyticsServer, serve

    if (args.cert is None) != (args.key is None):
        raise TokenwardenError("--cert and --key go together")
    workspace = LocalWorkspace.from_exports(args.logs)
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

    from shared.simulator import SimulatorServer, load_tenant_state, serve_simulator
    from shared.simulator.throttling import default_limits

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
    from shared.demo import run_demo

    return run_demo(args.out, users=args.users, stdout=stdout, stderr=stderr, environ=os.environ)


def _rules(args: argparse.Namespace, stdout: TextIO) -> int:
    import json

    from shared.ruleset import load_rules

    rules = load_rules()
    if args.format == "markdown":
        from shared.rule_docs import rules_markdown

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


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out, err = stdout or sys.stdout, stderr or sys.stderr
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "hunt":
            return _hunt(args, out, err)
        if args.command == "demo-data":
            return _demo_data(args, out)
        if args.command == "workspace":
            return _serve(args, err)
        if args.command == "demo":
            return _demo(args, out, err)
        if args.command == "simulate":
            return _simulate(args, out)
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
