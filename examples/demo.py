"""The demo: a six-shot storyboard generated and stored, with nothing leaving this machine.

    ./dev demo [--storyboard examples/cafe.yaml] [--out out] [--traceback]

Starts the local stack (the GMI simulator, GMI Cloud's documented API on loopback rendering real
H.264 MP4s, and a moto S3 server), runs the ``run_storyboard`` flow against it with a progress
bar read from the ledger as shots are paid for and stored, copies the final cut, contact sheet
and manifest to ``out/``, and stops both servers.

Prefect starts a temporary API server for the run unless ``PREFECT_API_URL`` names a running
one (``prefect server start``). That server takes ~20 s to start on a busy 2-core machine,
longer than Prefect's default wait, so the demo waits up to 10 minutes for it
(``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` overrides). A failure ends with one line
naming its cause and the fix; ``--traceback`` shows the whole error instead.
"""

from __future__ import annotations

from prefect_gmicloud.localstack import allow_slow_prefect_start

allow_slow_prefect_start()  # before anything imports Prefect, which reads its settings once

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.progress import Progress  # noqa: E402

from prefect_gmicloud import GMICloudCredentials, GMICloudError  # noqa: E402
from prefect_gmicloud.flows.storyboard import StoryboardResult, run_storyboard  # noqa: E402
from prefect_gmicloud.ledger.store import Ledger  # noqa: E402
from prefect_gmicloud.localstack import LocalStack, explain_failure, local_stack  # noqa: E402
from prefect_gmicloud.simulator import SimulatorConfig  # noqa: E402
from prefect_gmicloud.storage import S3Destination, resolve_storage  # noqa: E402
from prefect_gmicloud.storyboard import Storyboard, StoryboardError  # noqa: E402
from prefect_gmicloud.storyboard.options import StoryboardOptions  # noqa: E402

console = Console()


async def run_with_progress(
    board: Storyboard, storage: S3Destination, credentials: GMICloudCredentials
) -> StoryboardResult:
    """Run the storyboard while a progress bar follows its ledger in S3.

    The bar only ever shows what the ledger says (each shot's request id as soon as it is paid
    for, and when its files are stored): it names the wait for Prefect's API before the first
    shot is recorded, and says "failed" (not 100%) when the run fails.
    """
    location = resolve_storage(storage)
    ledger = Ledger(location, location.key(board.title, "ledger"))
    flow_run = asyncio.ensure_future(
        run_storyboard(
            board,
            storage,
            credentials,
            options=StoryboardOptions(max_concurrency=3, poll_interval=0.5),
        )
    )
    with Progress(console=console, transient=False) as progress:
        bar = progress.add_task(
            f"{board.title}: starting Prefect (its temporary API takes ~20 s)",
            total=len(board.shots),
        )
        stored = 0
        while not flow_run.done():
            entries = await ledger.entries()
            if entries:
                stored = sum(e.state == "stored" for e in entries)
                submitted = sum(e.request_id is not None for e in entries)
                progress.update(
                    bar,
                    completed=stored,
                    description=f"{board.title}: {submitted} submitted, {stored} stored",
                )
            await asyncio.wait({flow_run}, timeout=0.5)
        if flow_run.exception() is not None:
            progress.update(bar, description=f"{board.title}: failed, {stored} stored")
        else:
            progress.update(bar, completed=len(flow_run.result().shots))
    return await flow_run


def run_demo(board: Storyboard, out: Path) -> None:
    """Everything the demo does, on a local stack started here and stopped at the end."""
    # moto accepts any keys; these exist only for this process and its flow run.
    os.environ.update(AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")  # noqa: S106
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the S3 server's access log
    config = SimulatorConfig(queue_seconds=1.0, processing_seconds=4.0)
    stack: LocalStack
    with local_stack(config, bucket="gmi-demo") as stack:
        storage = stack.storage(prefix="demo")
        console.print(
            f"GMI simulator on {stack.simulator.base_url}; S3 on {stack.s3_endpoint}",
            soft_wrap=True,
        )
        credentials = GMICloudCredentials(
            api_key=stack.simulator.api_key, base_url=stack.simulator.base_url
        )
        result = asyncio.run(run_with_progress(board, storage, credentials))
        calls = sum(stack.simulator.stats.calls.values())
        out.mkdir(parents=True, exist_ok=True)
        copies = [(result.manifest_uri, out / "manifest.json")]
        for stored, name in ((result.final_cut, "final.mp4"), (result.contact_sheet, "sheet.jpg")):
            if stored is not None:
                copies.append((stored.uri, out / name))
        client = storage.s3_client()
        for uri, local in copies:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            client.download_file(bucket, key, str(local))
    console.print(f"\n{len(result.shots)} shots stored ({result.submitted} submitted):")
    for shot in result.shots:
        if shot.video is not None:
            console.print(f"  {shot.shot_id:<8} {shot.video.uri}  {shot.video.size:,} bytes")
    for uri, local in copies:
        console.print(f"  {local.name:<14} {uri} -> {local.resolve()}", soft_wrap=True)
    console.print(f"  the simulator answered {calls} API calls")


def failure_line(exc: Exception) -> str:
    """The one line a failed demo ends with: the cause, and the fix when one is known."""
    known = explain_failure(exc)
    if known is not None:
        return known
    if isinstance(exc, GMICloudError | StoryboardError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}. Run `./dev demo --traceback` for the details"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--storyboard", type=Path, default=Path(__file__).with_name("cafe.yaml"))
    parser.add_argument("--out", type=Path, default=Path("out"))
    parser.add_argument("--traceback", action="store_true", help="show whole errors")
    args = parser.parse_args()
    try:
        run_demo(Storyboard.load(args.storyboard), args.out)
    except Exception as exc:
        if args.traceback:
            raise
        console.print(f"[red]demo failed: {failure_line(exc)}[/red]", soft_wrap=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
