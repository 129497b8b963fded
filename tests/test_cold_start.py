"""Cold start: importing the Function App loads azure.functions and the adapters, no SDK and no heavy core.

No timing here (the machine is shared): ``bench/coldstart_bench.py`` measures. This test pins the cause
instead: whatever ``function_app`` registers when the test runs, a fresh interpreter that imports it
must not have loaded any of the modules below. Adapters import ``shared`` and the SDKs inside their
function bodies.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

HEAVY = (
    # Azure SDKs and what they pull in
    "azure.core", "azure.identity", "msal", "azure.monitor", "azure.data.tables", "azure.storage",
    "azure.eventgrid", "azure.mgmt", "azure.kusto",
    # Microsoft Graph
    "msgraph", "msgraph_core", "kiota_abstractions", "kiota_http", "kiota_serialization_json",
    # data, HTTP, crypto and parsing libraries
    "duckdb", "duckdb_kql", "pyarrow", "pydantic", "jwt", "cryptography", "aiohttp", "httpx", "requests",
    "tenacity", "yaml",
    # heavy parts of the core: the local Graph simulator, demo data, local workspace, response engine
    "shared.devkit.simulator", "shared.devkit.demo_data", "shared.detect.logsources.duckdb", "shared.respond",
    "shared.cases.enrich",
    "shared.detect.logsources",
)

_CHILD = "import json, sys\n{imports}\nprint(json.dumps(sorted(sys.modules)))\n"


def modules_after(*imports: str) -> set[str]:
    """``sys.modules`` of a fresh interpreter, started in the repository root, after *imports*."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    code = _CHILD.format(imports="\n".join(f"import {name}" for name in imports))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def heavy_loaded(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if any(name == h or name.startswith(h + ".") for h in HEAVY))


def test_importing_the_function_app_loads_no_heavy_module() -> None:
    modules = modules_after("function_app")
    assert "function_app" in modules and "azure.functions" in modules
    assert heavy_loaded(modules) == [], "imported at module level by function_app or an adapter in functions/"


def test_every_adapter_module_is_registered_lazily() -> None:
    adapters = sorted(f"functions.{p.stem}" for p in (ROOT / "functions").glob("*.py") if p.stem != "__init__")
    assert adapters, "functions/ holds no adapter"
    assert heavy_loaded(modules_after(*adapters)) == []


@pytest.mark.parametrize("heavy", ["yaml", "azure.data.tables", "shared.devkit.simulator"])
def test_the_guard_catches_a_heavy_import(heavy: str) -> None:
    assert heavy_loaded(modules_after("function_app", heavy)), f"{heavy} should have been caught"
