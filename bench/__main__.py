"""``make bench``: run every benchmark and print ratios measured side by side.

``BENCH_SCALES`` (comma-separated rows per table) overrides the default 1M and 5M,
for a quick look on a small machine.
"""

from __future__ import annotations

import os

from bench.rules_bench import print_report, run_scales


def main() -> None:
    scales = [int(part) for part in os.environ.get("BENCH_SCALES", "1000000,5000000").split(",") if part]
    print_report(run_scales(scales))


if __name__ == "__main__":
    main()
