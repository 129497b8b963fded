"""``make bench``: run every benchmark and print ratios measured side by side.

``BENCH_SCALES`` (comma-separated rows per table) overrides the default 1M and 5M
rule benchmark; ``BENCH_ONLY`` (``rules``, ``files``, ``sources``, ``enrich``, ``cases``, ``contain``,
``coldstart``, ``sensor``) runs one benchmark; ``BENCH_RULES`` (comma-separated rule ids) limits the rule
benchmark to those rules; bench/files_bench.py lists the hunt-from-files settings.
"""

from __future__ import annotations

import os

from bench.cases_bench import print_cases, run_cases_bench
from bench.coldstart_bench import print_coldstart, run_coldstart_bench
from bench.contain_bench import print_containment, run_containment_bench
from bench.enrich_bench import print_enrichment, run_enrichment_bench
from bench.files_bench import print_files, run_files_bench
from bench.remote_sources_bench import print_sources, run_sources_bench
from bench.rules_bench import print_report, run_scales
from bench.sensor_bench import print_sensor, run_sensor_bench


def main() -> None:
    only = os.environ.get("BENCH_ONLY", "")
    if only in ("", "rules"):
        scales = [int(part) for part in os.environ.get("BENCH_SCALES", "1000000,5000000").split(",") if part]
        print_report(run_scales(scales))
    if only in ("", "files"):
        print_files(run_files_bench())
    if only in ("", "sources"):
        print_sources(run_sources_bench())
    if only in ("", "enrich"):
        print_enrichment(run_enrichment_bench())
    if only in ("", "cases"):
        print_cases(run_cases_bench())
    if only in ("", "contain"):
        print_containment(run_containment_bench())
    if only in ("", "coldstart"):
        print_coldstart(run_coldstart_bench())
    if only in ("", "sensor"):
        print_sensor(run_sensor_bench())


if __name__ == "__main__":
    main()
