"""``prefect-gmicloud``: run storyboards, check requests, serve the simulator."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.client.http import DEFAULT_BASE_URL
from prefect_gmicloud.errors import GMICloudError, StoryboardInterrupted
from prefect_gmicloud.flows.generate import load_credentials
from prefect_gmicloud.flows.storyboard import run_storyboard
from prefect_gmicloud.models.base import describe_errors
from prefect_gmicloud.storage.s3 import S3Destination
from prefect_gmicloud.storyboard import Storyboard, StoryboardError, plan_storyboard
from prefect_gmicloud.storyboard.plan import PlannedShot

app = typer.Typer(help="GMI Cloud video generation with Prefect.", no_args_is_help=True)
storyboard_app = typer.Typer(help="Validate and run storyboards.", no_args_is_help=True)
request_app = typer.Typer(help="Inspect GMI requests.", no_args_is_help=True)
app.add_typer(storyboard_app, name="storyboard")
app.add_typer(request_app, name="request")
console = Console()

CredentialsOption = Annotated[
    str, typer.Option(help="A saved GMICloudCredentials block, used unless --api-key-env is set.")
]
KeyEnvOption = Annotated[
    str | None, typer.Option(help="Read the API key from this environment variable instead.")
]
BaseUrlOption = Annotated[str, typer.Option(help="The API root (the simulator's, for tests).")]


class _OwnErrorsWithoutTraceback(logging.Filter):
    """Prefect logs a failed flow run's exception with its traceback; ours say all in words."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], GMICloudError):
            record.exc_info, record.exc_text = None, None
        return True


def _credentials(block: str, api_key_env: str | None, base_url: str) -> GMICloudCredentials | str:
    if api_key_env is None:
        return block
    key = os.environ.get(api_key_env, "")
    if not key:
        raise typer.BadParameter(f"${api_key_env} is empty or unset", param_hint="--api-key-env")
    return GMICloudCredentials(api_key=key, base_url=base_url)


def _load(file: Path) -> Storyboard:
    try:
        return Storyboard.load(file)
    except StoryboardError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/red]")
        raise typer.Exit(1) from None


def _plan(board: Storyboard) -> list[PlannedShot]:
    try:
        return plan_storyboard(board)
    except StoryboardError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@storyboard_app.command("validate")
def validate(file: Path) -> None:
    """Check a storyboard and show what each shot will ask for; sends nothing."""
    board = _load(file)
    planned = _plan(board)
    table = Table(title=f"storyboard {board.title}: {len(planned)} shots")
    for column in ("shot", "model", "prompt sent"):
        table.add_column(column)
    for shot in planned:
        table.add_row(shot.shot_id, shot.payload.model_id, shot.payload.to_payload().get("prompt"))
    console.print(table)


@storyboard_app.command("run")
def run(
    file: Path,
    bucket: Annotated[str, typer.Option(help="Where the videos go.")],
    prefix: Annotated[str, typer.Option(help="A folder in the bucket.")] = "gmicloud",
    endpoint_url: Annotated[str | None, typer.Option(help="An S3-compatible endpoint.")] = None,
    credentials: CredentialsOption = "gmicloud",
    api_key_env: KeyEnvOption = None,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
    max_concurrency: Annotated[int, typer.Option(min=1, max=256)] = 4,
    concurrency_limit: Annotated[
        str | None, typer.Option(help="A Prefect global concurrency limit shared by workers.")
    ] = None,
    final_cut: Annotated[bool, typer.Option(help="Join the shots into final.mp4.")] = True,
    force: Annotated[bool, typer.Option(help="Regenerate shots already stored.")] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.1, max=300, help="Seconds between status reads at first.")
    ] = 1.0,
    queue_timeout: Annotated[
        float, typer.Option(min=1, help="Stop waiting for a request queued this long (seconds).")
    ] = 6 * 3600.0,
    processing_timeout: Annotated[
        float, typer.Option(min=1, help="Stop waiting for a request processing this long.")
    ] = 3600.0,
    resubmit_missing: Annotated[
        bool, typer.Option(help="Pay again for shots whose recorded request GMI answers 404 for.")
    ] = False,
) -> None:
    """Generate every shot of FILE and store it with a manifest (S3 keys from the AWS chain).

    Each shot is paid for once: run the same command again after any failure, crash or stop,
    and recorded requests are collected instead of paid again.
    """
    board = _load(file)
    _plan(board)  # every shot's problems, before Prefect or GMI is reached
    try:
        storage = S3Destination(bucket=bucket, prefix=prefix, endpoint_url=endpoint_url)
    except ValidationError as exc:
        options = sorted({f"--{str(e['loc'][0]).replace('_', '-')}" for e in exc.errors()})
        raise typer.BadParameter("; ".join(describe_errors(exc)), param_hint=options) from None
    gmi = _credentials(credentials, api_key_env, base_url)
    logging.getLogger("prefect.flow_runs").addFilter(_OwnErrorsWithoutTraceback())
    try:
        result = asyncio.run(
            run_storyboard(
                board, storage, gmi, max_concurrency=max_concurrency,
                concurrency_limit=concurrency_limit, final_cut=final_cut, force=force,
                poll_interval=poll_interval, queue_timeout=queue_timeout,
                processing_timeout=processing_timeout, resubmit_missing=resubmit_missing,
            )
        )  # fmt: skip
    except StoryboardInterrupted as exc:
        console.print(f"[yellow]{escape(str(exc))}[/yellow]")
        console.print(f"To collect them: {escape(shlex.join(sys.argv))}")
        raise typer.Exit(130) from None
    except (GMICloudError, StoryboardError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        console.print(f"To retry: {escape(shlex.join(sys.argv))}")
        raise typer.Exit(1) from None
    console.print(f"manifest: {result.manifest_uri}")
    if result.final_cut:
        console.print(f"final cut: {result.final_cut.uri}")


@request_app.command("status")
def status(
    request_id: str,
    credentials: CredentialsOption = "gmicloud",
    api_key_env: KeyEnvOption = None,
    base_url: BaseUrlOption = DEFAULT_BASE_URL,
) -> None:
    """Print a request's record as JSON."""

    async def fetch() -> str:
        block = await load_credentials(_credentials(credentials, api_key_env, base_url))
        async with block.get_client() as client:
            return (await client.get(request_id)).model_dump_json(indent=2)

    try:
        console.print_json(asyncio.run(fetch()))
    except GMICloudError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@app.command(
    "simulator",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def simulator(context: typer.Context) -> None:
    """Serve the local GMI simulator (options as `python -m prefect_gmicloud.simulator -h`)."""
    from prefect_gmicloud.simulator.__main__ import main

    raise typer.Exit(main(context.args))
