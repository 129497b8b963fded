"""The settings registry: validation, defaults, and that nothing reads the environment around it."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.errors import ConfigurationError
from shared.core.settings import (
    DEPLOYMENT_SETTINGS,
    HOST_STORAGE_SETTINGS,
    HOST_TELEMETRY_SETTINGS,
    LOCAL_ONLY_SETTINGS,
    PLATFORM_SETTINGS,
    SETTINGS,
    Settings,
    load_settings,
)

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


def test_each_settings_field_is_one_declared_app_setting() -> None:
    """A field's declaration is the whole setting: name, default, group, parser; the registry tuples derive from it."""
    read = (*SETTINGS, *DEPLOYMENT_SETTINGS, *HOST_STORAGE_SETTINGS, *PLATFORM_SETTINGS, *LOCAL_ONLY_SETTINGS)
    assert sorted(spec.field for spec in read) == sorted(f.name for f in fields(Settings))
    every = [spec.name for spec in (*read, *HOST_TELEMETRY_SETTINGS)]
    assert len(every) == len(set(every))
    assert all(spec.field == "" for spec in HOST_TELEMETRY_SETTINGS)  # read by the telemetry setup, not Settings


def test_each_declared_parser_gets_its_own_setting() -> None:
    """Every field is filled from its own app setting: a value only that setting gives turns up in that field."""
    settings = load_settings({"KEY_DRIFT_SCHEDULE": "0 0 * * * *", "BLAST_RADIUS_PER_HOUR": "7",
                              "RESPONSE_MODE": "AUTO", "WEBSITE_AUTH_ENABLED": "1"})
    assert (settings.key_drift_schedule, settings.blast_radius_per_hour, settings.response_mode,
            settings.platform_auth_enabled, settings.blast_radius_per_run) == ("0 0 * * * *", 7, "auto", True, 25)


def test_secret_settings_stay_out_of_the_repr() -> None:
    settings = load_settings({"NOTIFY_WEBHOOK_URL": "https://hooks.example/run?sig=s3cret",
                              "AzureWebJobsStorage": "AccountKey=k3y"})
    assert "s3cret" not in repr(settings) and "k3y" not in repr(settings)
    assert settings.notify_webhook_url.endswith("sig=s3cret")


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
