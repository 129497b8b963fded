"""What ``.funcignore`` lets into the Function App's deployment package: the app, and nothing of the dev kit.

The list is built by git's own gitignore matcher (``git ls-files --ignored --exclude-from``), the syntax
Core Tools and the azd packager read ``.funcignore`` with, so the test checks the rules as the packager applies
them rather than our reading of them.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _git_files(*args: str) -> set[str]:
    out = subprocess.run(["git", "ls-files", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(out.splitlines())


def _deployed() -> set[str]:
    """Tracked files minus those ``.funcignore`` matches."""
    return _git_files() - _git_files("-c", "-i", "--exclude-from=.funcignore")


def test_the_dev_kit_rule_fixtures_and_tooling_stay_out_of_the_package() -> None:
    deployed = _deployed()
    leaked = sorted(path for path in deployed
                    if path.startswith(("shared/devkit/", "tests/", "tools/", "bench/", "sensor/", "infra/", "docs/",
                                        ".ci/"))
                    or "/fixtures/" in path)
    assert leaked == []


def test_the_package_holds_what_the_app_runs() -> None:
    deployed = _deployed()
    assert {"function_app.py", "host.json", "requirements.txt"} <= deployed
    assert {path for path in deployed if path.startswith("functions/")} == _git_files("functions")
    # every rule ships its query and metadata, and every table schema ships
    rules = {p.parent.name for p in (ROOT / "shared" / "rules").glob("*/rule.toml")}
    assert rules and all({f"shared/rules/{r}/rule.kql", f"shared/rules/{r}/rule.toml"} <= deployed for r in rules)
    assert _git_files("shared/schemas") <= deployed
    python_outside_devkit = {p for p in _git_files("shared")
                             if p.endswith(".py") and not p.startswith("shared/devkit/")}
    assert python_outside_devkit <= deployed


def test_every_top_level_file_in_the_package_is_one_the_app_needs() -> None:
    top_level = {path for path in _deployed() if "/" not in path}
    assert top_level == {"function_app.py", "host.json", "requirements.txt"}
