"""azd wiring: `azd up` provisions main.bicep, deploys the app, then the postdeploy hook does the rest."""

from __future__ import annotations

import json
import re

from infra_bicep import INFRA, ROOT, bicep_files, infra_file, parse, reachable_from

AZURE_YAML = ROOT / "azure.yaml"
HOOKS = ("infra/hooks/postdeploy.sh", "infra/hooks/postdeploy.ps1")


def test_azure_yaml_deploys_one_function_service_and_runs_the_postdeploy_hook() -> None:
    text = AZURE_YAML.read_text()
    assert re.search(r"^services:\n  api:\n    project: \.\n    language: python\n    host: function$", text, re.M)
    assert re.search(r"^infra:\n  provider: bicep\n  path: infra\n  module: main$", text, re.M)
    assert "hooks:\n  postdeploy:" in text
    for hook in HOOKS:
        assert f"run: ./{hook}" in text
        assert (ROOT / hook).is_file()


def test_main_parameters_name_only_main_bicep_parameters() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = infra_file("main.bicep")["parameters"]
    assert set(parameters) <= set(declared)
    required = {name for name, p in declared.items() if p.get("default") is None}  # pycep: None when absent
    assert required <= set(parameters)


def test_the_function_app_is_tagged_for_azd() -> None:
    text = (INFRA / "app" / "api.bicep").read_text()
    assert "'azd-service-name': 'api'" in text


def test_event_grid_subscriptions_are_created_only_after_deploy() -> None:
    provisioned = reachable_from(INFRA / "main.bicep")
    post_deploy = reachable_from(INFRA / "postdeploy.bicep")
    subscribing = {
        path
        for path in bicep_files()
        if any("eventSubscriptions" in r["type"] for r in parse(path).get("resources", {}).values())
    }
    assert subscribing, "no Event Grid subscription to the events function"
    assert subscribing <= post_deploy
    assert not subscribing & provisioned


def test_the_playbook_is_created_only_after_deploy() -> None:
    # It reads the Function App's host key, which exists once the deployed host has started.
    playbook = (INFRA / "sentinel" / "playbook.bicep").resolve()
    assert playbook in reachable_from(INFRA / "postdeploy.bicep")
    assert playbook not in reachable_from(INFRA / "main.bicep")


def test_every_bicep_file_is_used() -> None:
    used = reachable_from(INFRA / "main.bicep") | reachable_from(INFRA / "postdeploy.bicep")
    assert {p.resolve() for p in bicep_files()} == used


def test_postdeploy_hooks_pass_every_required_parameter() -> None:
    declared = infra_file("postdeploy.bicep")["parameters"]
    required = {name for name, p in declared.items() if p.get("default") is None}  # pycep: None when absent
    outputs = set(infra_file("main.bicep")["outputs"])
    for hook in HOOKS:
        text = (ROOT / hook).read_text()
        for name in required:
            assert re.search(rf"\b{name}\b", text), f"{hook} does not set {name}"
        # Every azd value the hook reads is a main.bicep output or set by azd itself.
        read = set(re.findall(r"\$\{?(?:env:)?([A-Z][A-Z0-9_]+)\b", text))
        set_by_azd_or_shell = {"AZURE_ENV_NAME", "AZURE_SUBSCRIPTION_ID", "SENTINEL_SP_OBJECT_ID", "LASTEXITCODE"}
        assert read - outputs <= set_by_azd_or_shell, hook
