"""The demo: start a local GMI simulator, generate one reference-to-video clip, save it.

    ./dev demo [--out out/demo.mp4] [--duration 5]

Nothing leaves this machine: the simulator speaks GMI Cloud's documented API on loopback and
renders a real H.264 MP4 of the asked size and length.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from pathlib import Path

from generate_one import generate

from prefect_gmicloud.simulator import Simulator, SimulatorConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out/demo.mp4"))
    parser.add_argument("--duration", type=int, default=5)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = SimulatorConfig(queue_seconds=1.0, processing_seconds=3.0)
    with Simulator(config) as simulator:
        print(f"simulator: {simulator.base_url}")
        started = time.monotonic()
        asyncio.run(generate(simulator.base_url, simulator.api_key, args.out, args.duration))
        stats = simulator.stats
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"done in {time.monotonic() - started:.1f}s: {args.out.resolve()}")
    print(f"  sha256 {digest}")
    print(f"  simulator received {sum(stats.calls.values())} API calls, created {stats.created}")


if __name__ == "__main__":
    main()
