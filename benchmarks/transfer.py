"""Download + upload of a large simulated video: our streamed path against the naive one.

    .venv/bin/python benchmarks/transfer.py [--size-mib 1024] [--json out.json]

Starts a local S3-protocol server (moto) and the GMI simulator as subprocesses, has the
simulator produce a video of the given size, then runs each path in a fresh subprocess of its
own so that its peak RSS is its own:

- ours:  ``download_file`` (streamed to disk, sha256 on the way) + ``location.upload`` (boto3
  managed multipart from the file);
- naive: ``httpx.get(url).content`` + ``put_object(Body=content)``;
- raw:   boto3 ``upload_file`` with its defaults, on the file ours downloaded (the upload
  throughput to compare with).

Prints peak RSS over each process's own baseline (after imports), and throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from servers import local_servers, s3_client

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
PATHS = ("ours", "naive", "raw")


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the paths, each run in a child process ------------------------------------------------------


def child(args: argparse.Namespace) -> None:
    import httpx

    from prefect_gmicloud.storage import S3Destination, resolve_storage
    from prefect_gmicloud.transfer import download_file

    client = s3_client(args.endpoint)
    location = resolve_storage(S3Destination(bucket=args.bucket, endpoint_url=args.endpoint))
    baseline = rss_mib()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if args.child == "ours":
        destination = Path(args.workdir) / "ours.mp4"
        file = asyncio.run(download_file(args.url, destination))
        timings["download_s"] = time.perf_counter() - started
        upload_started = time.perf_counter()
        asyncio.run(location.upload(file.path, "ours.mp4", sha256=file.sha256))
        timings["upload_s"] = time.perf_counter() - upload_started
    elif args.child == "naive":
        content = httpx.get(args.url, timeout=600).content
        timings["download_s"] = time.perf_counter() - started
        upload_started = time.perf_counter()
        client.put_object(Bucket=args.bucket, Key="naive.mp4", Body=content)
        timings["upload_s"] = time.perf_counter() - upload_started
    else:
        client.upload_file(str(Path(args.workdir) / "ours.mp4"), args.bucket, "raw.mp4")
        timings["upload_s"] = time.perf_counter() - started
    timings["total_s"] = time.perf_counter() - started
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak_rss_mib(), **timings}))


# -- the orchestration ---------------------------------------------------------------------------


async def produce_video(base_url: str) -> str:
    import httpx

    from prefect_gmicloud import GMICloudClient
    from prefect_gmicloud.client import WaitPolicy

    async with GMICloudClient(
        "sim-local-key", base_url=base_url, wait_policy=WaitPolicy(initial_interval=0.1)
    ) as gmi:
        request = await gmi.submit("wan2.7-t2v", {"prompt": "a very large video"})
        done = await gmi.wait(request.request_id)
    assert done.video is not None
    async with httpx.AsyncClient(timeout=600) as storage:  # have the simulator write its file now
        (await storage.get(done.video.url, headers={"Range": "bytes=0-0"})).raise_for_status()
    return done.video.url


def run_child(kind: str, url: str, endpoint: str, bucket: str, workdir: str) -> dict[str, float]:
    command = [
        sys.executable, __file__, "--child", kind, "--url", url, "--endpoint", endpoint,
        "--bucket", bucket, "--workdir", workdir,
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(args: argparse.Namespace) -> None:
    size = args.size_mib * MIB
    simulator_args = ("--queue-seconds", "0", "--processing-seconds", "0.1")
    with (
        local_servers(*simulator_args, "--video-bytes", str(size)) as servers,
        tempfile.TemporaryDirectory(prefix="gmi-bench-") as workdir,
    ):
        url = asyncio.run(produce_video(servers.base_url))
        endpoint, s3 = servers.s3_endpoint, servers.s3_client()
        # Rounds interleave the paths and rotate their order, so drift in the machine's load
        # and the server's state hit them alike. "raw" needs the file "ours" downloads.
        rounds: list[dict[str, dict[str, float]]] = []
        for number in range(args.rounds):
            order = ("ours", *(("naive", "raw") if number % 2 == 0 else ("raw", "naive")))
            rounds.append(
                {kind: run_child(kind, url, endpoint, "bench", workdir) for kind in order}
            )
            for key in ("ours.mp4", "naive.mp4", "raw.mp4"):
                s3.delete_object(Bucket="bench", Key=key)
    report(size, rounds, args.json)


def report(size: int, rounds: list[dict[str, dict[str, float]]], json_path: Path | None) -> None:
    mib = size / MIB
    results = {
        kind: {
            metric: statistics.median(r[kind][metric] for r in rounds) for metric in rounds[0][kind]
        }
        for kind in PATHS
    }
    ratios = sorted(r["raw"]["upload_s"] / r["ours"]["upload_s"] for r in rounds)
    print(
        f"\ntransfer of a {mib:.0f} MiB simulated video, median of {len(rounds)} interleaved "
        "rounds (loopback; moto S3; 2 cores)\n"
    )
    print(f"{'path':<8}{'peak RSS over baseline':>24}{'download':>12}{'upload':>12}{'total':>12}")
    for kind, r in results.items():
        growth = r["peak_mib"] - r["baseline_mib"]
        down = f"{mib / r['download_s']:.0f} MiB/s" if "download_s" in r else "-"
        print(
            f"{kind:<8}{growth:>20.0f} MiB{down:>12}{mib / r['upload_s']:>8.0f} MiB/s"
            f"{r['total_s']:>10.1f} s"
        )
    ours, naive = results["ours"], results["naive"]
    ours_growth = ours["peak_mib"] - ours["baseline_mib"]
    naive_growth = naive["peak_mib"] - naive["baseline_mib"]
    upload_ratio = statistics.median(ratios)
    print(f"\npeak RSS growth: ours {ours_growth:.0f} MiB vs naive {naive_growth:.0f} MiB "
          f"(ratio {ours_growth / naive_growth:.3f}); target < 100 MiB: "
          f"{'met' if ours_growth < 100 else 'MISSED'}")  # fmt: skip
    print(f"upload throughput ours / raw boto3 upload_file: median {upload_ratio:.2f}, "
          f"range {ratios[0]:.2f}-{ratios[-1]:.2f} "
          f"(target >= 0.80: {'met' if upload_ratio >= 0.8 else 'MISSED'})")  # fmt: skip
    if json_path:
        document = {"size_bytes": size, "median": results, "rounds": rounds}
        json_path.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", choices=["ours", "naive", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments)
    else:
        main(arguments)
