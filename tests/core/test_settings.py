"""The settings registry: validation, defaults, and that nothing reads the environment around it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.errors import ConfigurationError
from shared.core.settings import SETTINGS, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_load_and_deployments_start_in_approval_mode() -> None:
    settings = load_settings({})
    assert settings.response_mode == "approval"
    assert settings.scan_schedule == "0 */5 * * * *"
    assert settings.scan_lookback == timedelta(hours=1)


def test_lists_are_split_and_trimmed() -> None:
    settings = load_settings({"GRAPH_ACTIVITY_ALLOWLIST_APPS": " a , ,b ", "EXTRA_COMPROMISED_KEYS": "k1"})
    assert settings.graph_allowlist_apps == ("a", "b")
    assert settings.extra_compromised_keys == ("k1",)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RESPONSE_MODE", "yolo", "RESPONSE_MODE is 'yolo'"),
    ("SCAN_LOOKBACK", "forever", "SCAN_LOOKBACK: 'forever' is not a duration"),
])
def test_invalid_settings_name_themselves(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_settings({name: value})


def test_registry_names_are_unique_upper_snake() -> None:
    names = [spec.name for spec in SETTINGS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[A-Z][A-Z0-9_]+", name) for name in names)


def test_only_adapters_read_the_process_environment() -> None:
    """Settings are read through load_settings(mapping); a stray os.environ read would dodge the registry."""
    allowed = {ROOT / "shared" / "cli" / "main.py"}
    pattern = re.compile(r"os\.environ|os\.getenv|getenv\(")
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "shared").rglob("*.py")
        if path not in allowed and pattern.search(path.read_text())
    ]
    assert offenders == []
    assert pattern.search((ROOT / "shared" / "cli" / "main.py").read_text())  # the guard can see a real read
