"""The demo: a six-shot storyboard generated and stored, with nothing leaving this machine.

    ./dev demo [--storyboard examples/cafe.yaml] [--out out]

Starts the GMI simulator (GMI Cloud's documented API on loopback, rendering real H.264 MP4s)
and a local S3-protocol server (moto), runs the ``run_storyboard`` flow against both (Prefect
starts a temporary API when none is configured) with a progress bar read from the manifest as
it is rewritten, copies the final cut, contact sheet and manifest to ``out/``, and stops both
servers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from moto.server import ThreadedMotoServer
from rich.console import Console
from rich.progress import Progress

from prefect_gmicloud import GMICloudCredentials
from prefect_gmicloud.flows.storyboard import StoryboardResult, run_storyboard
from prefect_gmicloud.simulator import Simulator, SimulatorConfig
from prefect_gmicloud.storage import S3Destination, resolve_storage
from prefect_gmicloud.storyboard import Storyboard
from prefect_gmicloud.storyboard.manifest import ManifestStore

console = Console()


async def run_with_progress(
    board: Storyboard, storage: S3Destination, credentials: GMICloudCredentials
) -> StoryboardResult:
    """Run the storyboard while a progress bar follows its manifest in S3."""
    location = resolve_storage(storage)
    store = ManifestStore(location, location.key(board.title, "manifest.json"))
    flow_run = asyncio.ensure_future(
        run_storyboard(board, storage, credentials, max_concurrency=3, poll_interval=0.5)
    )
    with Progress(console=console, transient=False) as progress:
        bar = progress.add_task(f"storyboard {board.title}", total=len(board.shots))
        while not flow_run.done():
            manifest = await store.load()
            if manifest is not None:
                stored = sum(s.status == "stored" for s in manifest.shots)
                submitted = sum(s.request_id is not None for s in manifest.shots)
                progress.update(
                    bar,
                    completed=stored,
                    description=f"{board.title}: {submitted} submitted, {stored} stored",
                )
            await asyncio.wait({flow_run}, timeout=0.5)
        progress.update(bar, completed=len(board.shots))
    return await flow_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--storyboard", type=Path, default=Path(__file__).with_name("cafe.yaml"))
    parser.add_argument("--out", type=Path, default=Path("out"))
    args = parser.parse_args()
    board = Storyboard.load(args.storyboard)
    # moto accepts any keys; these exist only for this process.
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")  # noqa: S106
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the S3 server's access log
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    s3.start()
    host, port = s3.get_host_and_port()
    storage = S3Destination(bucket="gmi-demo", prefix="demo", endpoint_url=f"http://{host}:{port}")
    location = resolve_storage(storage)
    location.client.create_bucket(Bucket=storage.bucket)
    try:
        config = SimulatorConfig(queue_seconds=1.0, processing_seconds=4.0)
        with Simulator(config) as simulator:
            console.print(f"GMI simulator on {simulator.base_url}; S3 on {storage.endpoint_url}")
            credentials = GMICloudCredentials(
                api_key=simulator.api_key, base_url=simulator.base_url
            )
            result = asyncio.run(run_with_progress(board, storage, credentials))
            calls = sum(simulator.stats.calls.values())
        args.out.mkdir(parents=True, exist_ok=True)
        copies = [(result.manifest_uri, args.out / "manifest.json")]
        for stored, name in ((result.final_cut, "final.mp4"), (result.contact_sheet, "sheet.jpg")):
            if stored is not None:
                copies.append((stored.uri, args.out / name))
        for uri, local in copies:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            location.client.download_file(bucket, key, str(local))
    finally:
        s3.stop()
    console.print(f"\n{len(result.shots)} shots stored ({result.submitted} submitted):")
    for shot in result.shots:
        if shot.video is not None:
            console.print(f"  {shot.shot_id:<8} {shot.video.uri}  {shot.video.size:,} bytes")
    for uri, local in copies:
        console.print(f"  {local.name:<14} {uri} -> {local.resolve()}")
    console.print(f"  the simulator answered {calls} API calls")


if __name__ == "__main__":
    main()
