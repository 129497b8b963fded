"""Cold start: the import time and peak RSS of ``function_app`` beside a bare ``import azure.functions``.

Every measurement is a fresh interpreter (as a new Functions worker is), run from the repository root
after ``compileall`` has written the ``.pyc`` files, so the numbers are imports, not compilation. The
child times its one import with ``time.perf_counter`` and reads its own peak RSS
(``VmHWM`` in ``/proc/self/status`` on Linux, where ``getrusage(RUSAGE_SELF).ru_maxrss`` is no use: the
kernel carries the spawning process's high-water mark across ``exec``, so every child would report at
least the benchmark's own size; ``ru_maxrss`` elsewhere). An empty interpreter is measured as well, so
the RSS the imports add can be read apart from the interpreter's own. The three targets run interleaved, in a rotating
order, ``REPETITIONS`` times each, and the medians are reported. A few ``-X importtime`` runs then list
the modules ``function_app`` loads beyond ``azure.functions``, heaviest first, so a regression names
its cause. The target is a function_app import under 2x the bare ``azure.functions`` import.
"""

from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

__all__ = ["import_profile", "print_coldstart", "run_coldstart_bench"]

ROOT = Path(__file__).resolve().parent.parent
REPETITIONS = int(os.environ.get("BENCH_COLDSTART_REPETITIONS", "15"))
IMPORTTIME_RUNS = 3
TARGET_RATIO = 2.0
TARGETS = ("", "azure.functions", "function_app")  # "" is an empty interpreter: the RSS floor

_CHILD = """
import resource, sys, time
started = time.perf_counter()
if sys.argv[1]:
    __import__(sys.argv[1])
elapsed = time.perf_counter() - started
rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with open("/proc/self/status") as status:
        rss_kib = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
modules = len(sys.modules)
print(f"{elapsed!r} {rss_kib} {modules}")
"""


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _child(target: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-c", _CHILD, target], cwd=ROOT, env=_environment(),
                          capture_output=True, text=True, check=True, timeout=120)


def _warm_up() -> None:
    """Write every .pyc the imports need: the project's by compileall, the packages' by importing once."""
    for folder in ("functions", "shared"):
        compileall.compile_dir(ROOT / folder, quiet=1, workers=0)
    compileall.compile_file(ROOT / "function_app.py", quiet=1)
    for target in TARGETS[1:]:
        _child(target)


def import_profile(target: str) -> dict[str, tuple[int, int, int]]:
    """``-X importtime`` of *target* in a fresh interpreter: module -> (self us, cumulative us, depth)."""
    stderr = _child(target, "-X", "importtime").stderr
    profile: dict[str, tuple[int, int, int]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2  # "| " then two spaces per level
        profile[name.strip()] = (int(self_us), int(cumulative_us), depth)
    return profile


def _heaviest_beyond(base: str, target: str, runs: int) -> dict[str, object]:
    base_modules: set[str] = set()
    self_times: dict[str, list[int]] = defaultdict(list)
    cumulative: dict[str, list[int]] = defaultdict(list)
    roots: set[str] = set()
    for _ in range(runs):
        base_modules |= set(import_profile(base))
        for name, (self_us, cumulative_us, depth) in import_profile(target).items():
            self_times[name].append(self_us)
            cumulative[name].append(cumulative_us)
            if 1 <= depth <= 2:  # what function_app and its adapters import directly
                roots.add(name)
    extra = {name: statistics.median(times) for name, times in self_times.items() if name not in base_modules}
    by_package: dict[str, float] = defaultdict(float)
    for name, self_us in extra.items():
        by_package[name.split(".")[0]] += self_us
    chains = sorted(((name, statistics.median(cumulative[name])) for name in roots if name in extra),
                    key=lambda item: -item[1])
    return {
        "modules_beyond": len(extra),
        "self_ms_beyond": sum(extra.values()) / 1000,
        "packages": sorted(((package, us / 1000) for package, us in by_package.items()), key=lambda i: -i[1])[:10],
        "chains": [(name, us / 1000) for name, us in chains[:10]],
    }


def run_coldstart_bench(repetitions: int = REPETITIONS) -> dict[str, object]:
    _warm_up()
    samples: dict[str, list[tuple[float, int, int]]] = {target: [] for target in TARGETS}
    for repetition in range(repetitions):
        shift = repetition % len(TARGETS)
        for target in TARGETS[shift:] + TARGETS[:shift]:  # rotate the order: no target always runs first
            seconds, rss_kib, modules = _child(target).stdout.split()
            samples[target].append((float(seconds), int(rss_kib), int(modules)))
    results: dict[str, object] = {"repetitions": repetitions}
    for target, values in samples.items():
        results[target or "python"] = {
            "import_ms": statistics.median(v[0] for v in values) * 1000,
            "import_ms_min": min(v[0] for v in values) * 1000,
            "rss_mib": statistics.median(v[1] for v in values) / 1024,
            "modules": statistics.median(v[2] for v in values),
        }
    results["beyond"] = _heaviest_beyond("azure.functions", "function_app", IMPORTTIME_RUNS)
    return results


def print_coldstart(result: dict[str, object]) -> None:
    bare, bare_az, app = result["python"], result["azure.functions"], result["function_app"]
    beyond = result["beyond"]
    assert isinstance(bare, dict) and isinstance(bare_az, dict) and isinstance(app, dict)
    assert isinstance(beyond, dict)
    print(f"\n== cold start: fresh interpreters, .pyc present, median of {result['repetitions']} interleaved runs ==")
    print(f"{'import':<18}{'ms':>9}{'min ms':>9}{'RSS MiB':>10}{'+RSS MiB':>10}{'modules':>9}")
    for name, item in (("(empty python)", bare), ("azure.functions", bare_az), ("function_app", app)):
        print(f"{name:<18}{item['import_ms']:>9.1f}{item['import_ms_min']:>9.1f}{item['rss_mib']:>10.1f}"
              f"{item['rss_mib'] - bare['rss_mib']:>10.1f}{item['modules']:>9.0f}")
    ratio = app["import_ms"] / bare_az["import_ms"]
    min_ratio = app["import_ms_min"] / bare_az["import_ms_min"]
    rss_ratio = (app["rss_mib"] - bare["rss_mib"]) / max(bare_az["rss_mib"] - bare["rss_mib"], 1e-9)
    verdict = "met" if ratio < TARGET_RATIO else "MISSED"
    print(f"function_app / azure.functions: {ratio:.2f}x median import time ({min_ratio:.2f}x of the fastest "
          f"runs; target < {TARGET_RATIO:.0f}x: {verdict}), {rss_ratio:.2f}x added RSS")
    print(f"beyond azure.functions: {beyond['modules_beyond']} modules, {beyond['self_ms_beyond']:.1f} ms "
          "of their own import time (-X importtime, median)")
    packages = ", ".join(f"{name} {ms:.1f} ms" for name, ms in beyond["packages"])  # type: ignore[attr-defined]
    print(f"  by package: {packages or '-'}")
    chains = ", ".join(f"{name} {ms:.1f} ms" for name, ms in beyond["chains"])  # type: ignore[attr-defined]
    print(f"  import chains (cumulative): {chains or '-'}")


if __name__ == "__main__":
    outcome = run_coldstart_bench()
    print_coldstart(outcome)
    if os.environ.get("BENCH_JSON"):
        print(json.dumps(outcome, indent=2, default=str))
