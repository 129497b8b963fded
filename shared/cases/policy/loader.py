"""Loading and validating a policy file (YAML, or JSON, which is YAML too) with the location of every fault.

The file is composed into YAML nodes first, so every error can say
``policy.yaml:14:9: triage[2].when.risk_level: ...`` instead of a bare
message: an operator editing a policy at 3 a.m. should not have to hunt.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, cast, get_args

from shared.cases.policy.model import RISK_LEVELS, Conditions, Playbook, PlaybookStep, Policy, TriageRule
from shared.core.errors import ConfigurationError
from shared.detect.ruleset import Severity

# A playbook names steps of the response stage; its registry is the one list of them, so the policy is checked
# against what the engine can run (the one import here of a later stage, and only of its step catalogue).
from shared.respond.steps.registry import STEP_NAMES

__all__ = ["DEFAULT_POLICY", "load_policy", "load_policy_text"]

DEFAULT_POLICY = "policy.yaml"
"""The shipped policy, in ``shared/data``; documented in docs/policy.md."""

_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount")
_CONDITION_KEYS = ("rule", "privileged_user", "risk_level", "app_audience", "ti_match", "min_count")


class _Reader:
    """Walks composed YAML nodes, converting values and naming file:line:column on every error."""

    def __init__(self, source: str) -> None:
        import yaml

        self.source = source
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: Any, path: str, message: str) -> ConfigurationError:
        mark = node.start_mark
        return ConfigurationError(f"{path}: {message}", location=f"{self.source}:{mark.line + 1}:{mark.column + 1}")

    def mapping(self, node: Any, path: str, allowed: Collection[str]) -> dict[str, Any]:
        import yaml

        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, path, "expected a mapping")
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.scalar(key_node, path)
            if not isinstance(key, str) or key not in allowed:
                raise self.fail(key_node, path, f"unknown key {key!r}; expected one of {', '.join(allowed)}")
            if key in result:
                raise self.fail(key_node, path, f"duplicate key {key!r}")
            result[key] = value_node
        return result

    def sequence(self, node: Any, path: str) -> list[Any]:
        import yaml

        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, path, "expected a list")
        return list(node.value)

    def scalar(self, node: Any, path: str) -> object:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, path, "expected a single value")
        return cast(object, self._constructor.construct_object(node, deep=True))

    def text(self, node: Any, path: str) -> str:
        value = self.scalar(node, path)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node, path, "expected non-empty text")
        return value.strip()

    def boolean(self, node: Any, path: str) -> bool:
        value = self.scalar(node, path)
        if not isinstance(value, bool):
            raise self.fail(node, path, f"expected true or false, got {value!r}")
        return value

    def choices(self, node: Any, path: str, allowed: Collection[str]) -> frozenset[str]:
        import yaml

        nodes = self.sequence(node, path) if isinstance(node, yaml.SequenceNode) else [node]
        values: set[str] = set()
        for index, item in enumerate(nodes):
            value = self.text(item, f"{path}[{index}]")
            if value not in allowed:
                raise self.fail(item, path, f"{value!r} is not one of {', '.join(sorted(allowed))}")
            values.add(value)
        if not values:
            raise self.fail(node, path, "expected at least one value")
        return frozenset(values)

    def severity(self, node: Any, path: str) -> Severity:
        value = self.text(node, path)
        if value not in get_args(Severity):
            raise self.fail(node, path, f"{value!r} is not one of {', '.join(get_args(Severity))}")
        return cast(Severity, value)


def _conditions(reader: _Reader, node: Any, path: str, known_rules: Collection[str]) -> Conditions:
    fields = reader.mapping(node, path, _CONDITION_KEYS)
    if not fields:
        raise reader.fail(node, path, "needs at least one condition (use the default for a catch-all)")
    min_count: int | None = None
    if "min_count" in fields:
        value = reader.scalar(fields["min_count"], f"{path}.min_count")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise reader.fail(fields["min_count"], f"{path}.min_count", f"expected a whole number ≥ 1, got {value!r}")
        min_count = value
    return Conditions(
        rules=reader.choices(fields["rule"], f"{path}.rule", known_rules) if "rule" in fields else None,
        privileged_user=(reader.boolean(fields["privileged_user"], f"{path}.privileged_user")
                         if "privileged_user" in fields else None),
        risk_levels=(reader.choices(fields["risk_level"], f"{path}.risk_level", RISK_LEVELS)
                     if "risk_level" in fields else None),
        app_audiences=(reader.choices(fields["app_audience"], f"{path}.app_audience", _AUDIENCES)
                       if "app_audience" in fields else None),
        ti_match=reader.boolean(fields["ti_match"], f"{path}.ti_match") if "ti_match" in fields else None,
        min_count=min_count,
    )


def _steps(reader: _Reader, node: Any, path: str, known_rules: Collection[str]) -> tuple[PlaybookStep, ...]:
    import yaml

    steps: list[PlaybookStep] = []
    for index, item in enumerate(reader.sequence(node, path)):
        where = f"{path}[{index}]"
        location = f"{reader.source}:{item.start_mark.line + 1}"
        options: dict[str, object] = {}
        if isinstance(item, yaml.ScalarNode):
            name, when = reader.text(item, where), None
            name_node = item
        else:
            fields = reader.mapping(item, where, ("step", "when", "with"))
            if "step" not in fields:
                raise reader.fail(item, where, "missing 'step'")
            name_node = fields["step"]
            name = reader.text(name_node, f"{where}.step")
            when = _conditions(reader, fields["when"], f"{where}.when", known_rules) if "when" in fields else None
            if "with" in fields:
                raw = reader._constructor.construct_object(fields["with"], deep=True)
                if not isinstance(raw, Mapping):
                    raise reader.fail(fields["with"], f"{where}.with", "expected a mapping of step options")
                options = dict(raw)
        if name not in STEP_NAMES:
            raise reader.fail(name_node, where, f"unknown step {name!r}; steps are {', '.join(STEP_NAMES)}")
        if any(step.name == name for step in steps):
            raise reader.fail(name_node, where, f"step {name!r} appears twice")
        steps.append(PlaybookStep(name=name, when=when, options=options, location=location))
    if not steps:
        raise reader.fail(node, path, "a playbook needs at least one step")
    return tuple(steps)


def _playbooks(reader: _Reader, node: Any, known_rules: Collection[str]) -> dict[str, Playbook]:
    import yaml

    if not isinstance(node, yaml.MappingNode) or not node.value:
        raise reader.fail(node, "playbooks", "expected a mapping of playbook names to definitions")
    playbooks: dict[str, Playbook] = {}
    for key_node, value_node in node.value:
        name = reader.text(key_node, "playbooks")
        if name in playbooks:
            raise reader.fail(key_node, "playbooks", f"duplicate playbook {name!r}")
        path = f"playbooks.{name}"
        fields = reader.mapping(value_node, path, ("description", "steps"))
        for key in ("description", "steps"):
            if key not in fields:
                raise reader.fail(value_node, path, f"missing {key!r}")
        playbooks[name] = Playbook(name=name, description=reader.text(fields["description"], f"{path}.description"),
                                   steps=_steps(reader, fields["steps"], f"{path}.steps", known_rules))
    return playbooks


def load_policy_text(text: str, *, source: str, known_rules: Collection[str]) -> Policy:
    """Parse and validate *text*; *known_rules* are the rule ids a condition may name."""
    import yaml

    reader = _Reader(source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigurationError(f"not valid YAML or JSON: {exc.problem}", location=where) from None
    if root is None:
        raise ConfigurationError("the policy file is empty", location=source)
    top = reader.mapping(root, "policy", ("version", "playbooks", "triage", "default"))
    for key in ("version", "playbooks", "triage", "default"):
        if key not in top:
            raise reader.fail(root, "policy", f"missing {key!r}")
    if reader.scalar(top["version"], "version") != 1:
        raise reader.fail(top["version"], "version", "only version 1 is understood")
    playbooks = _playbooks(reader, top["playbooks"], known_rules)

    def playbook_name(node: Any, path: str) -> str:
        name = reader.text(node, path)
        if name not in playbooks:
            raise reader.fail(node, path, f"names unknown playbook {name!r}; defined: {', '.join(playbooks)}")
        return name

    rules: list[TriageRule] = []
    seen: set[str] = set()
    for index, node in enumerate(reader.sequence(top["triage"], "triage")):
        path = f"triage[{index}]"
        fields = reader.mapping(node, path, ("name", "when", "severity", "playbook"))
        for key in ("name", "when", "severity", "playbook"):
            if key not in fields:
                raise reader.fail(node, path, f"missing {key!r}")
        name = reader.text(fields["name"], f"{path}.name")
        if name in seen:
            raise reader.fail(fields["name"], f"{path}.name", f"duplicate triage rule name {name!r}")
        seen.add(name)
        rules.append(TriageRule(
            name=name,
            when=_conditions(reader, fields["when"], f"{path}.when", known_rules),
            severity=reader.severity(fields["severity"], f"{path}.severity"),
            playbook=playbook_name(fields["playbook"], f"{path}.playbook"),
            location=f"{source}:{node.start_mark.line + 1}",
        ))
    default = reader.mapping(top["default"], "default", ("severity", "playbook"))
    if set(default) != {"severity", "playbook"}:
        raise reader.fail(top["default"], "default", "needs both severity and playbook")
    return Policy(
        source=source,
        playbooks=playbooks,
        rules=tuple(rules),
        default_severity=reader.severity(default["severity"], "default.severity"),
        default_playbook=playbook_name(default["playbook"], "default.playbook"),
    )


def load_policy(path: Path | None = None, *, known_rules: Collection[str] | None = None) -> Policy:
    """The policy at *path*, or the shipped default; rule names are checked against the shipped rules and the
    synthetic ones (manual responses, Sentinel incidents, app-reported anomalies)."""
    if known_rules is None:
        from shared.detect.ruleset import SYNTHETIC_RULE_IDS, load_rules

        known_rules = frozenset(load_rules().ids) | SYNTHETIC_RULE_IDS
    if path is None:
        text = resources.files("shared").joinpath(f"data/{DEFAULT_POLICY}").read_text(encoding="utf-8")
        return _parsed(text, source=f"shared/data/{DEFAULT_POLICY}", known_rules=known_rules)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read policy file: {exc.strerror}", location=str(path)) from None
    return _parsed(text, source=str(path), known_rules=known_rules)


_PARSED: dict[tuple[str, str, frozenset[str]], Policy] = {}
"""Policies already parsed, by source, text and the rule ids they were checked against."""


def _parsed(text: str, *, source: str, known_rules: Collection[str]) -> Policy:
    """:func:`load_policy_text`, once per process for the same text: every respond pass and approval loads the
    policy, and composing its YAML is most of what that costs. The file is read each time, so an edited policy
    is parsed again; a policy is frozen, so sharing one is safe."""
    key = (source, text, frozenset(known_rules))
    policy = _PARSED.get(key)
    if policy is None:
        policy = _PARSED[key] = load_policy_text(text, source=source, known_rules=known_rules)
    return policy
