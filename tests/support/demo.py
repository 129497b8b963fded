"""The demo tenant the scan tests share: its fixed end and the settings that scan it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.devkit.demo_data.generate import DemoDataSummary

DEMO_END = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class DemoLogs:
    folder: Path
    summary: DemoDataSummary

    def environment(self, **overrides: str) -> dict[str, str]:
        """Settings that scan these logs with their own key files and app catalogue."""
        jwks = self.folder / "jwks"
        environment = {
            "LOCAL_LOGS_DIR": str(self.folder),
            "KEY_SOURCES": f"{jwks / 'organizations.json'},{jwks / 'consumers.json'}",
            "APP_CATALOG_FILE": str(self.folder / "apps.json"),
        }
        environment.update(overrides)
        return environment
