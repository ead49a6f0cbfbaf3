"""How far one process scales: a storyboard of 1000 shots, all in flight at once.

    .venv/bin/python benchmarks/scale.py [--shots 1000] [--generation 10] [--concurrency N] \
        [--json out]

One ``run_storyboard`` (no final cut) against a simulator whose requests queue 1 s and process
``--generation`` s, with ``max_concurrency`` = ``--concurrency`` (default: every shot at once):
every request is submitted, polled and downloaded by this one process. With a concurrency
below the shots the wall (the whole run, from the flow's start) is also set against the ideal:
waves of ``concurrency`` requests back to back, ``ceil(shots / concurrency) * (1 + generation)``
seconds, and so is the time from the first submit (its ledger entry's ``submitted_at``) to the
flow's return: the wall without the flow run's start. Prefect runs against a temporary local API
(``prefect_test_harness``: its server is a process of its own, as in production). Reports this
process's peak RSS, wall time and the API calls the simulator answered, and checks every shot
is stored with no payload submitted twice. Target: peak RSS < 1 GiB and no error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import time
from pathlib import Path
from typing import Any

from servers import API_KEY, Servers, local_servers, quiet_prefect

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.flows.storyboard import StoryboardResult, run_storyboard
from prefect_gmicloud.ledger.entry import LedgerEntry
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination
from prefect_gmicloud.storyboard.options import StoryboardOptions

VIDEO_BYTES = 32 * 1024  # moto keeps objects in memory: 2000 of them stay small


def peak_rss_mib() -> float:
    """This process's peak resident set so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(servers: Servers, shots: int, concurrency: int) -> StoryboardResult:
    return await run_storyboard(
        synthetic_storyboard(shots, f"scale-{shots}"),
        S3Destination(bucket=servers.bucket, prefix="scale", endpoint_url=servers.s3_endpoint),
        GMICloudCredentials(api_key=API_KEY, base_url=servers.base_url),
        options=StoryboardOptions(max_concurrency=concurrency, final_cut=False),
    )


def submitted_at(servers: Servers, ledger_uri: str) -> list[float]:
    """When each shot's request was recorded as submitted (Unix time), from its ledger entry."""
    bucket, _, folder = ledger_uri.removeprefix("s3://").rstrip("/").partition("/")
    s3 = servers.s3_client()
    times = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{folder}/shots/"
    ):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            entry = LedgerEntry.model_validate_json(body)
            if entry.submitted_at is not None:
                times.append(entry.submitted_at)
    return times


def measure(shots: int, generation: float, concurrency: int) -> dict[str, Any]:
    timing = ("--queue-seconds", "1", "--processing-seconds", str(generation))
    rss_before = peak_rss_mib()
    with local_servers(*timing, "--video-bytes", str(VIDEO_BYTES)) as servers:
        started = time.perf_counter()
        result = asyncio.run(run(servers, shots, concurrency))
        wall = time.perf_counter() - started
        returned_at = time.time()
        first_submit = min(submitted_at(servers, result.ledger_uri), default=math.nan)
    stats = servers.simulator_stats
    ideal = math.ceil(shots / concurrency) * (1.0 + generation)
    stored = sum(1 for shot in result.shots if shot.status == "stored")
    return {
        "shots": shots,
        "generation_s": generation,
        "stored": stored,
        "wall_s": wall,
        "from_first_submit_s": returned_at - first_submit,
        "peak_rss_mib_before": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        "api_calls": stats["api_calls"],
        "calls": stats["calls"],
        "created": stats["created"],
        "duplicate_submits": stats["duplicate_submits"],
        "peak_active": stats["peak_active"],
        "concurrency": concurrency,
        "ideal_s": ideal,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--generation", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, help="max_concurrency (default: --shots)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with quiet_prefect():
        row = measure(args.shots, args.generation, args.concurrency or args.shots)
    ok = row["stored"] == row["shots"] and row["duplicate_submits"] == 0
    ok = ok and row["peak_rss_mib"] < 1024
    print(
        f"\n{row['shots']} shots ({row['generation_s']:g} s generation), "
        f"{row['concurrency']} in flight at most\n"
        f"  stored            {row['stored']} (duplicate submits {row['duplicate_submits']}, "
        f"peak in flight {row['peak_active']})\n"
        f"  wall              {row['wall_s']:.1f} s = {row['wall_s'] / row['ideal_s']:.2f} x the "
        f"ideal {row['ideal_s']:.0f} s\n"
        f"  from 1st submit   {row['from_first_submit_s']:.1f} s = "
        f"{row['from_first_submit_s'] / row['ideal_s']:.2f} x the ideal\n"
        f"  peak RSS          {row['peak_rss_mib']:.0f} MiB "
        f"(before the run {row['peak_rss_mib_before']:.0f} MiB)\n"
        f"  API calls         {row['api_calls']} ({row['api_calls'] / row['shots']:.1f} per shot: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(row["calls"].items()))
        + ")\n"
        f"  target: peak RSS < 1 GiB and no error: {'met' if ok else 'MISSED'}"
    )
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
