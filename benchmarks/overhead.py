"""What Prefect adds on top: ``run_storyboard`` against the bare client doing the same work.

    .venv/bin/python benchmarks/overhead.py [--sizes 10 100 500] [--generation 30] \\
        [--poll-intervals 1 5] [--parts overhead efficiency batch] [--json out]

Both paths do the same I/O for every shot: submit, wait with the same ``WaitPolicy``, stream the
video and thumbnail to disk (staged, not synced), upload both to S3. The bare path is
``GMICloudClient`` with ``asyncio.gather``; the flow path is ``run_storyboard`` (tasks,
manifest, artifacts, events) without the final cut. Each run gets a fresh simulator and S3
server (subprocesses: their CPU is not the measured process's) and each flow run a fresh
temporary local Prefect API (``prefect_test_harness``, SQLite, started before the clock starts),
so no run inherits the backlog of events the one before left the server; run logs at WARNING, so
the table stays readable.

1. Near-zero generation (queue 0 s, processing 0.05 s), N shots all at once: wall time of each
   path, their ratio and the flow's overhead per shot.
2. Generation of T seconds (default 30), N = 100, all at once: efficiency = T / wall, with
   the flows' default first poll (1 s) and with 5 s (the vendor example's fixed interval).
3. Batch status reads end to end: the same 100 shots of T seconds through the flow and through
   the bare client, each with batch reads (the default) and without (``batch_reads=False``;
   the flow does not take the option, so its clients are made with it for that run): status
   calls per shot (``GET /requests/{id}`` and ``GET /requests``) as the simulator counted them,
   and the slowest shot's wait.

``--parts`` runs some of them only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from servers import API_KEY, Servers, local_servers, quiet_prefect

from prefect_gmicloud import GMICloudClient, GMICloudCredentials
from prefect_gmicloud.client import WaitPolicy
from prefect_gmicloud.client.wait_schedule import wait_policy
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.simulator.boards import synthetic_storyboard
from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.options import StoryboardOptions
from prefect_gmicloud.storyboard.plan import PlannedShot, plan_storyboard
from prefect_gmicloud.transfer import download_file

VIDEO_BYTES = 64 * 1024  # small: the API and orchestration are measured, not the transfer
PARTS = ("overhead", "efficiency", "batch")


def storage_of(servers: Servers) -> S3Destination:
    return S3Destination(bucket=servers.bucket, prefix="bench", endpoint_url=servers.s3_endpoint)


async def bare_run(
    servers: Servers, board: Storyboard, policy: WaitPolicy, batch_reads: bool = True
) -> dict[str, float]:
    """Every shot with the bare client: the same calls and transfers as the flow makes.

    Returns the slowest and the mean shot's wait (from submitted to its end seen).
    """
    waits: list[float] = []
    location = resolve_storage(storage_of(servers))

    async def one(client: GMICloudClient, shot: PlannedShot, workdir: Path) -> None:
        request = await client.submit(shot.payload)
        started = time.perf_counter()
        done = await client.wait(request.request_id, policy=policy)
        waits.append(time.perf_counter() - started)
        for asset in done.assets:
            name = f"{shot.shot_id}-{asset.role}{Path(asset.url).suffix}"
            file = await download_file(asset.url, workdir / name, durable=False)
            key = location.key("bare", board.title, name)
            await location.upload(file.path, key, sha256=file.sha256)

    with tempfile.TemporaryDirectory(prefix="gmi-bare-") as workdir:
        async with GMICloudClient(
            API_KEY, base_url=servers.base_url, batch_reads=batch_reads
        ) as client:
            shots = plan_storyboard(board)
            await asyncio.gather(*(one(client, shot, Path(workdir)) for shot in shots))
    return {"longest_wait_s": max(waits), "mean_wait_s": sum(waits) / len(waits)}


@contextlib.contextmanager
def single_reads_in_flows() -> Iterator[None]:
    """The flows' GMI clients made with ``batch_reads=False`` (they do not take the option)."""
    made = GMICloudCredentials.get_client

    def get_client(self: GMICloudCredentials, **options: Any) -> GMICloudClient:
        return made(self, **{**options, "batch_reads": False})

    with mock.patch.object(GMICloudCredentials, "get_client", get_client):
        yield


async def flow_run(servers: Servers, board: Storyboard, poll_interval: float) -> dict[str, float]:
    """The storyboard flow; returns its slowest shot's wait and store times and the mean
    wait (from the result)."""
    credentials = GMICloudCredentials(api_key=API_KEY, base_url=servers.base_url)
    result = await run_storyboard(
        board,
        storage_of(servers),
        credentials,
        options=StoryboardOptions(
            max_concurrency=len(board.shots), final_cut=False, poll_interval=poll_interval
        ),
    )
    waits = [shot.wait_seconds or 0.0 for shot in result.shots]
    return {
        "longest_wait_s": max(waits),
        "mean_wait_s": sum(waits) / len(waits),
        "longest_store_s": max(shot.transfer_seconds or 0.0 for shot in result.shots),
    }


def timed(
    simulator_args: tuple[str, ...],
    run: Callable[[Servers], Coroutine[Any, Any, dict[str, float] | None]],
) -> dict[str, Any]:
    """Wall time of ``run`` against fresh servers, the API calls the simulator answered, how
    close together the requests were created, and whatever figures ``run`` returns."""
    with local_servers(*simulator_args, "--video-bytes", str(VIDEO_BYTES)) as servers:
        started = time.perf_counter()
        figures = asyncio.run(run(servers)) or {}
        wall = time.perf_counter() - started
    stats = servers.simulator_stats
    if stats["duplicate_submits"] or stats["created"] == 0:
        raise RuntimeError(f"unexpected simulator counters: {stats}")
    return {
        "wall_s": wall, "api_calls": stats["api_calls"], "calls": stats["calls"],
        "created": stats["created"], "created_within_s": stats["created_within_s"], **figures,
    }  # fmt: skip


def measure_batch(generation: float, shots: int = 100) -> list[dict[str, Any]]:
    """Status calls per shot with batch reads and without, flow and bare, side by side."""
    slow = ("--queue-seconds", "0", "--processing-seconds", str(generation))
    board = synthetic_storyboard(shots, "batch")
    policy = wait_policy(1.0, None, 3600.0)  # the flows' default
    print(f"\n{shots} shots of {generation:g} s each, all at once: status calls per shot\n")
    print(f"{'path':<6}{'reads':<8}{'get/shot':>10}{'list/shot':>11}{'status/shot':>13}"
          f"{'mean wait':>11}{'longest wait':>14}{'wall':>9}")  # fmt: skip
    rows: list[dict[str, Any]] = []
    for path, batch in (("bare", True), ("bare", False), ("flow", True), ("flow", False)):
        if path == "bare":
            run = functools.partial(bare_run, board=board, policy=policy, batch_reads=batch)
            figures = timed(slow, run)
        else:
            with quiet_prefect(), contextlib.ExitStack() as stack:
                if not batch:
                    stack.enter_context(single_reads_in_flows())
                run_flow = functools.partial(flow_run, board=board, poll_interval=1.0)
                figures = timed(slow, run_flow)
        calls = figures["calls"]
        get, listed = calls.get("get", 0) / shots, calls.get("list", 0) / shots
        rows.append({"path": path, "batch_reads": batch, "shots": shots,
                     "generation_s": generation, "get_per_shot": get,
                     "list_per_shot": listed, **figures})  # fmt: skip
        print(f"{path:<6}{'batch' if batch else 'single':<8}{get:>10.2f}{listed:>11.2f}"
              f"{get + listed:>13.2f}{figures['mean_wait_s']:>9.1f} s"
              f"{figures['longest_wait_s']:>12.1f} s"
              f"{figures['wall_s']:>7.1f} s")  # fmt: skip
    for path in ("bare", "flow"):
        shared, single = (
            next(r for r in rows if r["path"] == path and r["batch_reads"] == b)
            for b in (True, False)
        )
        ratio = (shared["get_per_shot"] + shared["list_per_shot"]) / (
            single["get_per_shot"] + single["list_per_shot"]
        )
        print(f"  {path}: batch reads make {ratio:.2f} of single reads' status calls")
    return rows


def measure(
    sizes: list[int], generation: float, poll_intervals: list[float], parts: list[str]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if "overhead" in parts:
        print("near-zero generation, all shots at once (bare: GMICloudClient + asyncio)\n")
        print(
            f"{'shots':>6}{'bare':>12}{'flow':>12}{'ratio':>8}{'overhead/shot':>17}"
            f"{'calls/shot':>12}"
        )
        results["overhead"] = measure_overhead(sizes)
        for row in results["overhead"]:
            if row["shots"] == 100:
                per_shot = 1000 * (row["flow"]["wall_s"] - row["bare"]["wall_s"]) / 100
                verdict = "met" if per_shot <= 20 else "MISSED"
                print(f"  target: overhead <= 20 ms per shot at N = 100: {verdict}")
    if "efficiency" in parts:
        results["efficiency"] = measure_efficiency(generation, poll_intervals)
        default = next(row for row in results["efficiency"] if row["poll_interval_s"] == 1.0)
        ratio = default["bare"]["wall_s"] / default["flow"]["wall_s"]  # of the efficiencies
        verdict = "met" if ratio >= 0.9 else "MISSED"
        print(
            f"  flow efficiency / bare efficiency: {ratio:.3f}; target >= 0.9 at N = 100 "
            f"(defaults): {verdict}"
        )
    if "batch" in parts:
        results["batch_reads"] = measure_batch(generation)
    return results


def measure_overhead(sizes: list[int]) -> list[dict[str, Any]]:
    near_zero = ("--queue-seconds", "0", "--processing-seconds", "0.05")
    fast_polls = wait_policy(0.2, None, 3600.0)
    overhead = []
    for n in sizes:
        board = synthetic_storyboard(n, f"overhead-{n}")
        bare = timed(near_zero, functools.partial(bare_run, board=board, policy=fast_polls))
        with quiet_prefect():
            flow = timed(near_zero, functools.partial(flow_run, board=board, poll_interval=0.2))
        overhead.append({"shots": n, "bare": bare, "flow": flow})
        print_overhead_row(overhead[-1])
    return overhead


def measure_efficiency(generation: float, poll_intervals: list[float]) -> list[dict[str, Any]]:
    slow = ("--queue-seconds", "0", "--processing-seconds", str(generation))
    board = synthetic_storyboard(100, "efficiency")
    print(f"\n100 shots of {generation:g} s each, all at once: efficiency = T / wall\n")
    print(
        f"{'first poll':>10}{'bare wall':>12}{'efficiency':>12}{'flow wall':>12}{'efficiency':>12}"
    )
    efficiency: list[dict[str, Any]] = []
    for poll in poll_intervals:
        policy = wait_policy(poll, None, 3600.0)
        bare = timed(slow, functools.partial(bare_run, board=board, policy=policy))
        with quiet_prefect():
            flow = timed(slow, functools.partial(flow_run, board=board, poll_interval=poll))
        efficiency.append({"shots": 100, "generation_s": generation, "poll_interval_s": poll})
        efficiency[-1] |= {"bare": bare, "flow": flow}
        print(
            f"{poll:>8g} s{bare['wall_s']:>10.1f} s{generation / bare['wall_s']:>12.2f}"
            f"{flow['wall_s']:>10.1f} s{generation / flow['wall_s']:>12.2f}"
            f"    (flow: requests created within {flow['created_within_s']:.1f} s, longest "
            f"wait {flow['longest_wait_s']:.1f} s, longest store {flow['longest_store_s']:.1f} s)"
        )
    return efficiency


def print_overhead_row(row: dict[str, Any]) -> None:
    bare, flow, n = row["bare"]["wall_s"], row["flow"]["wall_s"], row["shots"]
    print(
        f"{n:>6}{bare:>10.1f} s{flow:>10.1f} s{flow / bare:>8.2f}"
        f"{1000 * (flow - bare) / n:>14.0f} ms{row['flow']['api_calls'] / n:>12.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--generation", type=float, default=30.0)
    parser.add_argument(
        "--poll-intervals", type=float, nargs="+", default=[1.0, 5.0], help="1 s: the default"
    )
    parser.add_argument(
        "--parts", nargs="+", choices=PARTS, default=list(PARTS), help="which tables to run"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = measure(args.sizes, args.generation, args.poll_intervals, args.parts)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
