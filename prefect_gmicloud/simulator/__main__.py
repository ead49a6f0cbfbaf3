"""``python -m prefect_gmicloud.simulator``: serve the simulator in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from prefect_gmicloud.simulator.config import FaultRates, SimulatorConfig
from prefect_gmicloud.simulator.server import Simulator


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m prefect_gmicloud.simulator",
        description="A local GMI Cloud request-queue API, with outputs on a second port.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790, help="API port (0: any free port)")
    parser.add_argument("--files-port", type=int, default=0, help="file host port (0: any)")
    parser.add_argument("--api-key", default="sim-local-key")
    parser.add_argument("--queue-seconds", type=float, default=2.0)
    parser.add_argument("--processing-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--video-bytes", type=int, default=None, help="serve videos as synthetic files this large"
    )
    parser.add_argument(
        "--no-fetch-references",
        dest="fetch_references",
        action="store_false",
        help="accept reference URLs without downloading them (placeholder hosts never are)",
    )
    parser.add_argument(
        "--clock-offset-seconds",
        type=float,
        default=0.0,
        help="GMI's clock minus this host's (created_at, updated_at, the Date header)",
    )
    parser.add_argument(
        "--credits-for-requests",
        type=int,
        default=None,
        help="accept this many requests, then answer 402 Insufficient credits",
    )
    parser.add_argument(
        "--unentitled-model",
        dest="unentitled_models",
        action="append",
        default=[],
        help='answer this model\'s submits 500 "Backend error (401)" (repeatable)',
    )
    parser.add_argument(
        "--list-page-limit",
        type=int,
        default=None,
        help="GET /requests shows this many records, with the full total",
    )
    parser.add_argument(
        "--stats-file", type=Path, default=None, help="write the counters here (JSON) on exit"
    )
    for name, field in FaultRates.model_fields.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}-rate",
            dest=name,
            type=float,
            default=0.0,
            help=f"{field.description} (0-1)",
        )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    faults = FaultRates(**{name: getattr(args, name) for name in FaultRates.model_fields})
    config = SimulatorConfig(
        api_key=args.api_key,
        queue_seconds=args.queue_seconds,
        processing_seconds=args.processing_seconds,
        seed=args.seed,
        faults=faults,
        video_bytes=args.video_bytes,
        fetch_references=args.fetch_references,
        clock_offset_seconds=args.clock_offset_seconds,
        credits_for_requests=args.credits_for_requests,
        unentitled_models=args.unentitled_models,
        list_page_limit=args.list_page_limit,
    )
    simulator = Simulator(config, host=args.host, port=args.port, files_port=args.files_port)
    print(f"GMI simulator: base_url={simulator.base_url}", flush=True)
    print(f"               files on {simulator.apps.files_base_url}", flush=True)
    print("               api key: the value of --api-key (default sim-local-key)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(simulator.serve())
    if args.stats_file is not None:
        args.stats_file.write_text(json.dumps(simulator.stats.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
