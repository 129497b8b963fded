"""The sensor's tests run its real SDK clients against the repository's local servers (the Logs Ingestion and
Event Grid simulator, Azurite), so the repository root must be importable for ``shared.devkit.simulator`` and
``tests.support``. The sensor package itself imports neither."""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)
