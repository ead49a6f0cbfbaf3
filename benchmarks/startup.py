"""Start-up time: how long the package's light entry points take, beside Prefect's own.

    .venv/bin/python benchmarks/startup.py [--runs 7] [--json PATH]

Each command runs ``--runs`` times in a fresh interpreter (interleaved, after one warm-up round
so the file cache is warm); the table shows the median wall time and the range, and the JSON
(default ``benchmarks/results/startup.json``) every run. Measured in the same run, as
yardsticks: ``python -c pass`` (the interpreter alone) and ``prefect --help`` (Prefect's own
start). Target: ``storyboard validate`` of the example under 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = "prefect-gmicloud storyboard validate examples/cafe.yaml"
TARGET_SECONDS = 1.0

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import prefect_gmicloud.client": [
        sys.executable, "-c", "from prefect_gmicloud.client import GMICloudClient",
    ],
    "prefect-gmicloud --help": [str(BIN / "prefect-gmicloud"), "--help"],
    TARGET: [str(BIN / "prefect-gmicloud"), "storyboard", "validate", "examples/cafe.yaml"],
    "import prefect_gmicloud.flows (Prefect loaded)": [
        sys.executable, "-c", "import prefect_gmicloud.flows",
    ],
    "prefect --help": [str(BIN / "prefect"), "--help"],
}  # fmt: skip


def wall_seconds(command: list[str]) -> float:
    """One run's wall time; the command must succeed."""
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--json", type=Path, default=ROOT / "benchmarks" / "results" / "startup.json"
    )
    args = parser.parse_args()
    for command in COMMANDS.values():
        wall_seconds(command)  # warm-up: the file cache, .pyc files
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            times[name].append(wall_seconds(command))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    print(f"\nwall time of each command, median of {args.runs} fresh processes (2 cores)\n")
    print(f"{'command':<58}{'median':>9}{'range':>16}")
    for name, runs in times.items():
        print(f"{name:<58}{medians[name]:>8.2f}s{min(runs):>8.2f}-{max(runs):.2f} s")
    met = medians[TARGET] < TARGET_SECONDS
    print(f"\n{TARGET}: {medians[TARGET]:.2f} s; target < {TARGET_SECONDS:.0f} s: "
          f"{'met' if met else 'MISSED'}")  # fmt: skip
    if args.json:
        document = {"runs": args.runs, "median_s": medians, "all_s": times}
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
