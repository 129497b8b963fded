"""Detection rules as reviewed data: one folder per rule, loaded strictly and frozen.

A rule folder holds ``rule.kql`` (opening with ``declare query_parameters``, where
each parameter is declared once with its type and default; no target receives that
statement, see :mod:`shared.detect.rule_forms`), ``rule.toml`` (the metadata an analyst and
the generated Sentinel analytic rules read) and ``fixtures/`` (the positive and
negative cases the tests run).

Every rule selects rows by when they arrived (``ingestion_time()``) and bounds
``TimeGenerated`` by its ``max_ingestion_delay`` parameter, whose default must cover
the documented delay of every table it reads (:mod:`shared.detect.ingestion_delay`). The
``[reach_back]`` parameters add up to how far before the window the rule reads
``TimeGenerated``; in Sentinel that reach plus one run's window must fit the rule's
``query_period``, which may not exceed 14 days, so ``[sentinel.parameters]`` may
shorten a look-back for the Sentinel form only. The loader refuses anything
inconsistent and names the file, because a silently half-loaded rule set is a
blind spot nobody notices.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal, cast, get_args

from shared.core.errors import RuleError
from shared.core.timeparse import format_duration, parse_duration
from shared.detect.ingestion_delay import delay_bound
from shared.detect.kql.declare import Declaration, parse_declare

__all__ = [
    "ENTITY_KINDS",
    "FINDING_COLUMNS",
    "SYNTHETIC_RULE_IDS",
    "Rule",
    "RuleCollection",
    "RuleMeta",
    "Severity",
    "default_rules_dir",
    "load_rules",
]

Severity = Literal["High", "Medium", "Low", "Informational"]
ENTITY_KINDS = ("account_object_id", "account_upn", "ip", "cloud_application", "key")
FINDING_COLUMNS: tuple[tuple[str, str], ...] = (
    ("FirstSeen", "datetime"),
    ("LastSeen", "datetime"),
    ("FirstArrived", "datetime"),
    ("Count", "long"),
    ("UserUpn", "string"),
    ("UserObjectId", "string"),
    ("AppId", "string"),
    ("IpAddress", "string"),
    ("KeyId", "string"),
    ("TokenId", "string"),
    ("Issuer", "string"),
    ("TokenTenantId", "string"),
    ("SourceTable", "string"),
    ("Evidence", "dynamic"),
)
"""The columns every rule returns, in order: one contract for findings, Sentinel and tests."""

RULE_ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$")
_ISO_DURATION = re.compile(r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?)?$")
SENTINEL_MAX_QUERY_PERIOD = timedelta(days=14)
"""A scheduled analytics rule may look back at most 14 days (Microsoft.SecurityInsights/alertRules, ScheduledAlertRule
``queryPeriod``: azure-rest-api-specs, specification/securityinsights/.../AlertRules.json)."""
ARRIVAL_PARAMETER = "max_ingestion_delay"
_MITRE_TECHNIQUE = re.compile(r"^T\d{4}(?:\.\d{3})?$")


@dataclass(frozen=True, kw_only=True)
class RuleMeta:
    """What ``rule.toml`` says about a rule."""

    id: str
    title: str
    severity: Severity
    tables: tuple[str, ...]
    description: str
    triage: str
    references: tuple[str, ...]
    tactics: tuple[str, ...]
    techniques: tuple[str, ...]
    entities: Mapping[str, str]
    parameter_docs: Mapping[str, str]
    reach_back: tuple[str, ...]
    sentinel_frequency: str
    sentinel_period: str
    sentinel_parameters: Mapping[str, str] = field(default_factory=dict)
    """Parameter defaults for the Sentinel form only, as written in ``[sentinel.parameters]``."""
    sentinel_disabled_reason: str | None = None
    """Why the Sentinel analytic rule is deployed disabled (None: it is enabled where its tables are connected)."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    meta: RuleMeta
    query: str
    declarations: tuple[Declaration, ...]
    folder: Path

    @property
    def id(self) -> str:
        return self.meta.id

    @property
    def parameter_names(self) -> frozenset[str]:
        return frozenset(d.name for d in self.declarations)

    def fixtures(self, kind: Literal["positive", "negative"]) -> list[Path]:
        return sorted((self.folder / "fixtures" / kind).glob("*.json"))

    def default_timespan(self, name: str) -> timedelta:
        """The declared default of timespan parameter ``name``."""
        declaration = next((d for d in self.declarations if d.name == name), None)
        if declaration is None or declaration.kusto_type != "timespan" or declaration.default is None:
            raise RuleError(f"{self.id}: {name} is not a timespan parameter with a default")
        return timespan_literal(declaration.default)

    def reach_back(self, values: Mapping[str, object] | None = None) -> timedelta:
        """How far before its window the rule reads ``TimeGenerated``: the sum of its ``[reach_back]`` parameters,
        each from ``values`` when there, else its default."""
        total = timedelta(0)
        for name in self.meta.reach_back:
            value = (values or {}).get(name)
            if value is None:
                total += self.default_timespan(name)
            elif isinstance(value, timedelta):
                total += value
            elif isinstance(value, str):
                total += parse_duration(value)
            else:
                raise RuleError(f"{self.id}: {name} is not a timespan: {value!r}")
        return total

    def sentinel_values(self) -> dict[str, object]:
        """Parameter values of the Sentinel form: one run covers one ``query_frequency``, with the
        ``[sentinel.parameters]`` defaults."""
        values: dict[str, object] = {"default_window": iso_duration(self.meta.sentinel_frequency)}
        values.update({name: parse_duration(text) for name, text in self.meta.sentinel_parameters.items()})
        return values


def iso_duration(text: str) -> timedelta:
    """``PT1H``, ``P1DT11H``... as a timedelta (days, hours and minutes: what Sentinel's periods use)."""
    match = _ISO_DURATION.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise ValueError(f"{text!r} is not an ISO 8601 duration of days, hours and minutes")
    return timedelta(days=int(match["days"] or 0), hours=int(match["hours"] or 0), minutes=int(match["minutes"] or 0))


def timespan_literal(text: str) -> timedelta:
    """A KQL timespan literal as rules write their defaults (``1h``, ``14d``, ``30m``)."""
    try:
        return parse_duration(text)
    except ValueError:
        raise RuleError(f"timespan default {text!r} is not of the form 1h, 14d, 30m") from None


SYNTHETIC_RULE_IDS: frozenset[str] = frozenset({
    "manual-response",  # an operator's POST /respond names the principal
    "sentinel-incident",  # an account entity of a Sentinel incident handed over by an automation rule
    "app-reported-token-anomaly",  # an app's validation middleware reported a token (Tokenwarden.TokenAnomaly)
})
"""Rule ids of findings that come from outside the KQL rules. No rule folder has them, but cases are built
from them and the triage policy may name them."""


@dataclass(frozen=True)
class RuleCollection:
    """An immutable, id-ordered set of rules; lookups by id fail loudly."""

    rules: tuple[Rule, ...]
    _by_id: Mapping[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {rule.id: rule for rule in self.rules})

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(rule.id for rule in self.rules)

    def get(self, rule_id: str) -> Rule:
        try:
            return self._by_id[rule_id]
        except KeyError:
            known = ", ".join(self.ids)
            raise RuleError(f"unknown rule {rule_id!r}; known rules: {known}") from None

    def select(self, rule_ids: Iterable[str] | None) -> RuleCollection:
        """The named rules, in the order given; ``None`` means all of them."""
        if rule_ids is None:
            return self
        return RuleCollection(tuple(self.get(rule_id) for rule_id in rule_ids))


def default_rules_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "rules"


def load_rules(folder: Path | None = None, *, collect_errors: bool = False) -> RuleCollection:
    """Load every rule folder under *folder* (default: the shipped rules).

    With ``collect_errors`` every problem of every rule is gathered into one
    RuleError, one line each, for linting a whole rule set in one pass.
    """
    root = folder or default_rules_dir()
    rules: list[Rule] = []
    problems: list[RuleError] = []
    for rule_dir in sorted(path for path in root.iterdir() if path.is_dir()):
        if rule_dir.name.startswith(("_", ".")):
            continue
        try:
            rules.append(load_rule(rule_dir))
        except RuleError as exc:
            if not collect_errors:
                raise
            problems.append(exc)
    seen_titles: dict[str, str] = {}
    for rule in rules:
        other = seen_titles.setdefault(rule.meta.title.lower(), rule.id)
        if other != rule.id:
            problems.append(RuleError(f"title duplicates rule {other!r}", location=str(rule.folder)))
    if problems:
        if len(problems) == 1:
            raise problems[0]
        raise RuleError("\n".join(str(problem) for problem in problems))
    if not rules:
        raise RuleError("no rule folders found", location=str(root))
    return RuleCollection(tuple(rules))


_PARSED: dict[tuple[str, str], Rule] = {}
"""Rules already parsed, by folder and the digest of their two files' bytes."""


def load_rule(rule_dir: Path) -> Rule:
    """The rule in *rule_dir*; parsed once per process for the same folder and the same file contents.

    Each scan, respond pass and triage-policy load reads every rule, and tokenizing the KQL to check its
    declarations is most of what that costs (a fifth of a second for the shipped rules, each time, on a warm
    instance). Keying on the files' bytes, not their modification times, means an edited rule is always parsed
    again, however quickly it was rewritten. Rules are frozen, so sharing one is safe.
    """
    try:
        digest = hashlib.sha256(b"".join(
            (rule_dir / name).read_bytes() + b"\0" for name in ("rule.toml", "rule.kql"))).hexdigest()
    except OSError:
        return _parse_rule(rule_dir)  # a missing or unreadable file: its own error, from the parser
    key = (str(rule_dir), digest)
    rule = _PARSED.get(key)
    if rule is None:
        rule = _PARSED[key] = _parse_rule(rule_dir)
    return rule


def _parse_rule(rule_dir: Path) -> Rule:
    toml_path = rule_dir / "rule.toml"
    kql_path = rule_dir / "rule.kql"
    for path in (toml_path, kql_path):
        if not path.is_file():
            raise RuleError("missing file", location=str(path))
    try:
        raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"invalid TOML: {exc}", location=str(toml_path)) from None
    meta = _parse_meta(raw, toml_path)
    if meta.id != rule_dir.name:
        raise RuleError(f"id {meta.id!r} differs from its folder name {rule_dir.name!r}", location=str(toml_path))
    query = kql_path.read_text(encoding="utf-8")
    try:
        block = parse_declare(query)
    except (RuleError, ValueError) as exc:
        raise RuleError(str(exc), location=str(kql_path)) from None
    if block is None:
        raise RuleError("does not open with declare query_parameters(...)", location=str(kql_path))
    declarations = block.declarations
    _check_parameters(meta, declarations, toml_path, kql_path)
    for table in meta.tables:
        if not re.search(rf"\b{re.escape(table)}\b", query):
            raise RuleError(f"declares table {table} but the query never reads it", location=str(toml_path))
    rule = Rule(meta=meta, query=query, declarations=declarations, folder=rule_dir)
    _check_arrival_windowing(rule, kql_path)
    _check_sentinel_fit(rule, toml_path)
    return rule


def _check_arrival_windowing(rule: Rule, kql_path: Path) -> None:
    """The rule windows on arrival, and its delay bound covers the documented delay of every table it reads."""
    if "ingestion_time()" not in rule.query:
        raise RuleError("does not select rows by ingestion_time(); late rows would be skipped", location=str(kql_path))
    if ARRIVAL_PARAMETER not in rule.meta.reach_back:
        raise RuleError(f"[reach_back] must list {ARRIVAL_PARAMETER}", location=str(kql_path))
    declared = rule.default_timespan(ARRIVAL_PARAMETER)
    for table in rule.meta.tables:
        bound = delay_bound(table)
        if declared < bound.delay:
            raise RuleError(
                f"{ARRIVAL_PARAMETER} default {format_duration(declared)} is shorter than {table}'s delay bound "
                f"{format_duration(bound.delay)} (shared/detect/ingestion_delay.py)",
                location=str(kql_path),
            )


def _check_sentinel_fit(rule: Rule, toml_path: Path) -> None:
    """One Sentinel run reads its window plus the reach-back; all of it must lie inside ``query_period``."""
    for name in rule.meta.sentinel_parameters:
        declaration = next(d for d in rule.declarations if d.name == name)
        if declaration.kusto_type != "timespan":
            raise RuleError(f"sentinel.parameters.{name}: only timespan parameters may differ in Sentinel",
                            location=str(toml_path))
    period = iso_duration(rule.meta.sentinel_period)
    frequency = iso_duration(rule.meta.sentinel_frequency)
    if period > SENTINEL_MAX_QUERY_PERIOD:
        raise RuleError(f"sentinel.query_period {rule.meta.sentinel_period} exceeds Sentinel's 14 days",
                        location=str(toml_path))
    if period < frequency:
        raise RuleError("sentinel.query_period is shorter than sentinel.query_frequency", location=str(toml_path))
    needed = frequency + rule.reach_back(rule.sentinel_values())
    if needed > period:
        raise RuleError(
            f"the Sentinel form reads {format_duration(needed)} of data (one query_frequency plus "
            f"{', '.join(rule.meta.reach_back)}) but sentinel.query_period is {rule.meta.sentinel_period}; "
            "lengthen the period (at most 14 days) or shorten a look-back in [sentinel.parameters]",
            location=str(toml_path),
        )


def _check_parameters(
    meta: RuleMeta, declarations: Sequence[Declaration], toml_path: Path, kql_path: Path
) -> None:
    declared = [d.name for d in declarations]
    missing_default = [d.name for d in declarations if d.default is None]
    if missing_default:
        raise RuleError(
            f"parameters without a default (Sentinel could not run the rule): {', '.join(missing_default)}",
            location=str(kql_path),
        )
    for name in ("window_start", "window_end"):
        if name not in declared:
            raise RuleError(f"does not declare the {name} parameter", location=str(kql_path))
    undocumented = sorted(set(declared) - set(meta.parameter_docs))
    if undocumented:
        raise RuleError(f"parameters missing from [parameters]: {', '.join(undocumented)}", location=str(toml_path))
    unknown = sorted(set(meta.parameter_docs) - set(declared))
    if unknown:
        raise RuleError(f"[parameters] names undeclared parameters: {', '.join(unknown)}", location=str(toml_path))
    timespans = {d.name for d in declarations if d.kusto_type == "timespan"}
    not_timespans = sorted(set(meta.reach_back) - timespans)
    if not_timespans:
        raise RuleError(
            f"[reach_back] names parameters that are not declared timespans: {', '.join(not_timespans)}",
            location=str(toml_path),
        )


def _parse_meta(raw: Mapping[str, object], path: Path) -> RuleMeta:
    location = str(path)

    def text(key: str, table: Mapping[str, object] = raw, where: str = "") -> str:
        value = table.get(key)
        if not isinstance(value, str) or not value.strip():
            raise RuleError(f"{where}{key} must be a non-empty string", location=location)
        return " ".join(value.split()) if "\n" in value else value.strip()

    def strings(key: str, table: Mapping[str, object] = raw, where: str = "", required: bool = True) -> tuple[str, ...]:
        value = table.get(key, [] if not required else None)
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise RuleError(f"{where}{key} must be a list of strings", location=location)
        if required and not value:
            raise RuleError(f"{where}{key} must not be empty", location=location)
        return tuple(cast(list[str], value))

    def section(key: str, required: bool = True) -> Mapping[str, object]:
        value = raw.get(key, None if required else {})
        if not isinstance(value, dict):
            raise RuleError(f"[{key}] section is missing", location=location)
        return cast(Mapping[str, object], value)

    known_keys = {"id", "title", "severity", "tables", "description", "triage", "references", "mitre",
                  "entities", "parameters", "reach_back", "sentinel"}
    unknown_keys = sorted(set(raw) - known_keys)
    if unknown_keys:
        raise RuleError(f"unknown keys: {', '.join(unknown_keys)}", location=location)

    rule_id = text("id")
    if not RULE_ID_PATTERN.match(rule_id):
        raise RuleError(f"id {rule_id!r} must be lower-case words joined by hyphens", location=location)
    severity = text("severity")
    if severity not in get_args(Severity):
        raise RuleError(f"severity {severity!r} must be one of {', '.join(get_args(Severity))}", location=location)

    mitre = section("mitre")
    techniques = strings("techniques", mitre, "mitre.")
    bad = [t for t in techniques if not _MITRE_TECHNIQUE.match(t)]
    if bad:
        raise RuleError(f"mitre.techniques are not ATT&CK ids: {', '.join(bad)}", location=location)

    entities_raw = section("entities")
    entities: dict[str, str] = {}
    finding_columns = {name for name, _ in FINDING_COLUMNS}
    for kind, column in entities_raw.items():
        if kind not in ENTITY_KINDS:
            raise RuleError(f"entities.{kind} is not one of {', '.join(ENTITY_KINDS)}", location=location)
        if not isinstance(column, str) or column not in finding_columns:
            raise RuleError(f"entities.{kind} must name a finding column", location=location)
        entities[kind] = column

    parameters_raw = section("parameters")
    docs = {name: text(name, parameters_raw, "parameters.") for name in parameters_raw}

    sentinel = section("sentinel")
    unknown_sentinel = sorted(set(sentinel) - {"query_frequency", "query_period", "parameters", "disabled_reason"})
    if unknown_sentinel:
        raise RuleError(f"unknown keys in [sentinel]: {', '.join(unknown_sentinel)}", location=location)
    frequency, period = text("query_frequency", sentinel, "sentinel."), text("query_period", sentinel, "sentinel.")
    disabled_reason = text("disabled_reason", sentinel, "sentinel.") if "disabled_reason" in sentinel else None
    sentinel_parameters_raw = sentinel.get("parameters", {})
    if not isinstance(sentinel_parameters_raw, dict):
        raise RuleError("[sentinel.parameters] must be a table", location=location)
    sentinel_parameters: dict[str, str] = {}
    for name, value in sentinel_parameters_raw.items():
        if name not in docs:
            raise RuleError(f"sentinel.parameters.{name} is not a declared parameter", location=location)
        if not isinstance(value, str):
            raise RuleError(f"sentinel.parameters.{name} must be a timespan such as \"12d\"", location=location)
        try:
            parse_duration(value)
        except ValueError:
            raise RuleError(f"sentinel.parameters.{name} {value!r} is not a timespan such as \"12d\"",
                            location=location) from None
        sentinel_parameters[name] = value
    for key, value in (("query_frequency", frequency), ("query_period", period)):
        if not _ISO_DURATION.match(value) or value in ("P", "PT"):
            raise RuleError(f"sentinel.{key} {value!r} is not an ISO 8601 duration", location=location)

    reach_back = section("reach_back", required=False)
    return RuleMeta(
        id=rule_id,
        title=text("title"),
        severity=cast(Severity, severity),
        tables=strings("tables"),
        description=text("description"),
        triage=text("triage"),
        references=strings("references", required=False),
        tactics=strings("tactics", mitre, "mitre."),
        techniques=techniques,
        entities=entities,
        parameter_docs=docs,
        reach_back=strings("parameters", reach_back, "reach_back.", required=False),
        sentinel_frequency=frequency,
        sentinel_period=period,
        sentinel_parameters=sentinel_parameters,
        sentinel_disabled_reason=disabled_reason,
    )
