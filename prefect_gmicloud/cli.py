"""``prefect-gmicloud``: run storyboards, check requests, serve the simulator."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from prefect_gmicloud.cli_credentials import credentials_from_options
from prefect_gmicloud.cli_options import flag, with_option_flags
from prefect_gmicloud.doctor.command import doctor
from prefect_gmicloud.errors import AuthenticationError, GMICloudError, StoryboardInterrupted
from prefect_gmicloud.localstack import (
    BUCKET,
    S3_PORT,
    SIMULATOR_PORT,
    LocalStack,
    allow_slow_prefect_start,
    explain_failure,
)
from prefect_gmicloud.storyboard import Storyboard, StoryboardError
from prefect_gmicloud.storyboard.estimate import Estimate, Price, estimate, fetch_prices
from prefect_gmicloud.storyboard.options import StoryboardOptions
from prefect_gmicloud.storyboard.reference_checks import (
    LocalReferences,
    plan_checked,
    video_seconds,
)
from prefect_gmicloud.storyboard.references import source_kind

if TYPE_CHECKING:
    # Prefect, prefect-aws and boto3 take seconds to import: the commands that need them
    # import them when they run, so `--help` and `storyboard validate` stay fast.
    from prefect_gmicloud.storyboard.plan import PlannedShot

app = typer.Typer(
    help="GMI Cloud video generation with Prefect. A failure ends with one line naming its "
    "cause and fix; add --traceback (anywhere on the line) to see the whole error.",
    no_args_is_help=True,
)
storyboard_app = typer.Typer(help="Validate and run storyboards.", no_args_is_help=True)
request_app = typer.Typer(help="Inspect GMI requests.", no_args_is_help=True)
app.add_typer(storyboard_app, name="storyboard")
app.add_typer(request_app, name="request")
app.command("doctor")(doctor)
# Never wrap: paths, URIs and the commands printed to copy must stay whole.
console = Console(soft_wrap=True)

CredentialsOption = Annotated[
    str, typer.Option(help="A saved GMICloudCredentials block, used unless --api-key-env is set.")
]
KeyEnvOption = Annotated[
    str | None, typer.Option(help="Read the API key from this environment variable instead.")
]
BaseUrlOption = Annotated[
    str | None,
    typer.Option(
        help="The API root, with --api-key-env (the simulator's, for tests).",
        show_default="GMI Cloud's",
    ),
]


class _OwnErrorsWithoutTraceback(logging.Filter):
    """Prefect logs a failed flow run's exception with its traceback; ours say all in words."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], GMICloudError):
            record.exc_info, record.exc_text = None, None
        return True


def _explain_or_raise(exc: Exception) -> NoReturn:
    """End with the one-line cause and fix of a failure we recognise; re-raise any other."""
    explained = explain_failure(exc)
    if explained is None:
        raise exc
    console.print(f"[red]{explained}[/red]")
    raise typer.Exit(1) from None


def _refused_key(exc: AuthenticationError, block: str, api_key_env: str | None) -> NoReturn:
    """End a command whose API key GMI refused, saying where the key came from."""
    console.print(f"[red]{escape(str(exc))}[/red]")
    if api_key_env is not None:
        where = f"the key in ${api_key_env} (--api-key-env)"
    else:
        where = (
            f"the key saved in the GMICloudCredentials block {block!r} (--credentials), e.g. "
            f"GMICloudCredentials(api_key=..., base_url=...).save({block!r}, overwrite=True)"
        )
    console.print(f"GMI Cloud refused the API key: check {where}. Nothing was paid.")
    raise typer.Exit(1) from None


def _load(file: Path) -> Storyboard:
    try:
        return Storyboard.load(file)
    except StoryboardError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot read {file}: {exc}[/red]")
        raise typer.Exit(1) from None


def _plan(board: Storyboard) -> tuple[list[PlannedShot], Callable[[str], float | None]]:
    """Plan the board and check its files (s3:// objects are read when it runs)."""
    references = LocalReferences()
    references.inspect(board.references())
    try:
        return plan_checked(board, references), video_seconds(references)
    except StoryboardError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@storyboard_app.command("validate")
def validate(
    file: Path,
    prices: Annotated[
        bool,
        typer.Option(help="Also ask GMI each model's price (GET /models/{id}) for a cost."),
    ] = False,
    credentials: CredentialsOption = "gmicloud",
    api_key_env: KeyEnvOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """Check a storyboard, show what each shot will ask for and the seconds it would generate.

    Sends nothing unless --prices is given. Every shot counts (shots a run finds already
    stored are free then); a shot without duration counts at the longest its model takes.
    """
    board = _load(file)
    planned, seconds_of = _plan(board)
    table = Table(title=f"storyboard {board.title}: {len(planned)} shots")
    for column in ("shot", "model", "starts from", "prompt sent"):
        table.add_column(column)
    for shot in planned:
        table.add_row(
            shot.shot_id,
            shot.payload.model_id,
            f"{shot.continues}'s last frame" if shot.continues else "",
            shot.payload.to_payload().get("prompt"),
        )
    console.print(table)
    stored = [ref for ref in board.references() if source_kind(ref) == "s3"]
    if stored:
        console.print(
            f"{len(stored)} s3:// reference(s) not read here: a run checks them before paying."
        )
    found = estimate(planned, video_seconds=seconds_of)
    if prices:
        found.with_prices(asyncio.run(_prices(found, credentials, api_key_env, base_url)))
    for line in found.lines():
        console.print(escape(line))


async def _prices(
    found: Estimate, block: str, api_key_env: str | None, base_url: str | None
) -> dict[str, Price | str]:
    """Each model's price; with --api-key-env, without Prefect (a saved block needs its API)."""
    models = [m.model_id for m in found.models]
    if api_key_env is None:
        allow_slow_prefect_start()
        from prefect_gmicloud.flows.generate import load_credentials

        gmi = await load_credentials(block)
        async with gmi.get_client() as client:
            return await fetch_prices(client, models)
    from prefect_gmicloud.client.http import GMICloudClient
    from prefect_gmicloud.client.urls import DEFAULT_BASE_URL

    key = os.environ.get(api_key_env, "")
    if not key:
        raise typer.BadParameter(f"${api_key_env} is empty or unset", param_hint="--api-key-env")
    async with GMICloudClient(key, base_url=base_url or DEFAULT_BASE_URL) as client:
        return await fetch_prices(client, models)


@storyboard_app.command("run")
@with_option_flags
def run(
    file: Path,
    bucket: Annotated[str, typer.Option(help="Where the videos go.")],
    prefix: Annotated[str, typer.Option(help="A folder in the bucket.")] = "gmicloud",
    endpoint_url: Annotated[str | None, typer.Option(help="An S3-compatible endpoint.")] = None,
    credentials: CredentialsOption = "gmicloud",
    api_key_env: KeyEnvOption = None,
    base_url: BaseUrlOption = None,
    *,
    options: StoryboardOptions,
) -> None:
    """Generate every shot of FILE and store it with a manifest (S3 keys from the AWS chain).

    Each shot is paid for once: run the same command again after any failure, crash or stop,
    and recorded requests are collected instead of paid again.

    Without PREFECT_API_URL, Prefect starts a temporary API server for the run (~20 s on a
    small machine); this waits up to 10 minutes for it
    (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS overrides).
    """
    board = _load(file)
    _plan(board)  # every shot's problems, before Prefect or GMI is reached
    allow_slow_prefect_start()
    from pydantic import ValidationError

    from prefect_gmicloud.flows.storyboard import run_storyboard
    from prefect_gmicloud.models.base import describe_errors
    from prefect_gmicloud.storage.destination import S3Destination

    try:
        storage = S3Destination(bucket=bucket, prefix=prefix, endpoint_url=endpoint_url)
    except ValidationError as exc:
        hint = sorted({flag(str(e["loc"][0])) for e in exc.errors() if e["loc"]})
        raise typer.BadParameter("; ".join(describe_errors(exc)), param_hint=hint) from None
    from prefect.exceptions import TerminationSignal

    gmi = credentials_from_options(credentials, api_key_env, base_url)
    logging.getLogger("prefect.flow_runs").addFilter(_OwnErrorsWithoutTraceback())
    try:
        result = asyncio.run(run_storyboard(board, storage, gmi, options))
    except TerminationSignal as exc:
        # Outside the paying stage (which stops on its own, above): before anything is paid,
        # in a review's pause, or while the final cut is made, every paid request is recorded.
        name = signal.Signals(exc.signal).name
        console.print(
            f"[yellow]stopped by {name} while no request was being paid for: every paid "
            "request is recorded and every stored shot kept[/yellow]"
        )
        console.print(f"To finish (nothing is paid twice): {escape(shlex.join(sys.argv))}")
        raise typer.Exit(128 + exc.signal) from None
    except StoryboardInterrupted as exc:
        console.print(f"[yellow]{escape(str(exc))}[/yellow]")
        console.print(f"To collect them: {escape(shlex.join(sys.argv))}")
        raise typer.Exit(130) from None
    except AuthenticationError as exc:
        _refused_key(exc, credentials, api_key_env)
    except (GMICloudError, StoryboardError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        console.print(f"To retry: {escape(shlex.join(sys.argv))}")
        raise typer.Exit(1) from None
    except Exception as exc:
        _explain_or_raise(exc)
    console.print(f"manifest: {result.manifest_uri}")
    if result.final_cut:
        console.print(f"final cut: {result.final_cut.uri}")


@storyboard_app.command("review")
def review(
    flow_run_id: Annotated[str, typer.Argument(help="The paused storyboard run's id.")],
    reject: Annotated[
        list[str] | None,
        typer.Option(help="SHOT, or SHOT=new prompt, to generate again (repeatable)."),
    ] = None,
    seed: Annotated[
        list[str] | None, typer.Option(help="SHOT=SEED: a rejected shot's new seed (repeatable).")
    ] = None,
    reviewer: Annotated[str | None, typer.Option(help="Your name, kept in the history.")] = None,
    stop: Annotated[bool, typer.Option(help="End the run without a final cut.")] = False,
) -> None:
    """Answer a storyboard run paused for review: approve it, or reject shots.

    Without --reject every shot shown is approved. Rejected shots are paid for again (with a
    new prompt or seed when given, a new random seed otherwise) and shown again.
    """
    import uuid

    from prefect.exceptions import FlowPauseTimeout, NotPausedError
    from prefect.flow_runs import resume_flow_run

    seeds: dict[str, int] = {}
    for item in seed or []:
        shot, _, value = item.partition("=")
        if not value.strip().isdigit():
            raise typer.BadParameter(f"{item!r}: give SHOT=SEED", param_hint="--seed")
        seeds[shot] = int(value)
    changes: list[dict[str, Any]] = []
    for item in reject or []:
        shot, _, prompt = item.partition("=")
        changes.append({"shot": shot, "prompt": prompt or None, "seed": seeds.pop(shot, None)})
    if seeds:
        raise typer.BadParameter(
            f"seeds for shots not rejected: {sorted(seeds)}", param_hint="--seed"
        )
    try:
        run_id = uuid.UUID(flow_run_id)
    except ValueError:
        raise typer.BadParameter(f"not a flow run id: {flow_run_id!r}") from None
    answer = {"reject": changes, "reviewer": reviewer, "stop": stop}
    try:
        resume_flow_run(run_id, run_input=answer)
    except (FlowPauseTimeout, NotPausedError, RuntimeError) as exc:
        console.print(f"[red]{escape(str(exc))}[/red] (is run {flow_run_id} paused for review?)")
        raise typer.Exit(1) from None
    verdict = f"rejected {', '.join(c['shot'] for c in changes)}" if changes else "approved"
    console.print(f"run {flow_run_id}: {'stopped' if stop else verdict}")


@request_app.command("status")
def status(
    request_id: str,
    credentials: CredentialsOption = "gmicloud",
    api_key_env: KeyEnvOption = None,
    base_url: BaseUrlOption = None,
) -> None:
    """Print a request's record as JSON."""
    allow_slow_prefect_start()  # a saved block is read through Prefect's API
    from prefect_gmicloud.errors import GMICloudError
    from prefect_gmicloud.flows.generate import load_credentials

    async def fetch() -> str:
        block = await load_credentials(credentials_from_options(credentials, api_key_env, base_url))
        async with block.get_client() as client:
            return (await client.get(request_id)).model_dump_json(indent=2)

    try:
        console.print_json(asyncio.run(fetch()))
    except AuthenticationError as exc:
        _refused_key(exc, credentials, api_key_env)
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


@app.command("local-stack")
def local_stack_command(
    port: Annotated[int, typer.Option(help="The simulator's API port.")] = SIMULATOR_PORT,
    s3_port: Annotated[int, typer.Option(help="The S3 server's port.")] = S3_PORT,
    bucket: Annotated[str, typer.Option(help="The bucket to create.")] = BUCKET,
    processing_seconds: Annotated[
        float, typer.Option(min=0, help="How long each simulated request processes.")
    ] = 10.0,
    save_block: Annotated[
        str | None,
        typer.Option(
            help="Also save a GMICloudCredentials block of this name pointing at the simulator "
            "(through PREFECT_API_URL or --prefect's server; overwrites a block of that name)."
        ),
    ] = None,
    prefect: Annotated[
        bool,
        typer.Option(
            "--prefect",
            help="Also run a real Prefect server (its own database under "
            "~/.local/state/prefect-gmicloud/prefect), for scripts to use all day.",
        ),
    ] = False,
    prefect_port: Annotated[int, typer.Option(help="The Prefect server's port.")] = 4200,
) -> None:
    """Serve the GMI simulator and a moto S3 server with a bucket (and Prefect), until Ctrl-C.

    The defaults are what deployments/prefect.yaml's parameters point at. Ctrl-C or SIGTERM
    stops everything it started.
    """
    import contextlib
    import threading

    from prefect_gmicloud.errors import LocalStackError
    from prefect_gmicloud.localstack import local_stack
    from prefect_gmicloud.simulator import SimulatorConfig

    if save_block is not None and not prefect and not os.environ.get("PREFECT_API_URL"):
        console.print(
            "[red]--save-block needs a Prefect API to save into. Fix: add --prefect (a local "
            "server), or set PREFECT_API_URL to a running one[/red]"
        )
        raise typer.Exit(2)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the S3 server's access log
    config = SimulatorConfig(processing_seconds=processing_seconds)
    try:
        with contextlib.ExitStack() as started:
            if prefect:
                from prefect_gmicloud.prefect_server import prefect_server, state_home

                console.print(f"starting Prefect on port {prefect_port} (home {state_home()})...")
                # --save-block saves into it, and the stack names it.
                os.environ["PREFECT_API_URL"] = started.enter_context(prefect_server(prefect_port))
            stack = started.enter_context(
                local_stack(config, simulator_port=port, s3_port=s3_port, bucket=bucket)
            )
            _announce(stack, os.environ.get("PREFECT_API_URL") if prefect else None)
            if save_block is not None:
                _save_simulator_block(save_block, stack.simulator.api_key, stack.simulator.base_url)
            console.print("Ctrl-C stops everything started here.")
            sys.stdout.flush()
            threading.Event().wait()
    except KeyboardInterrupt:
        console.print("stopped")
    except LocalStackError as exc:
        console.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(1) from None
    except Exception as exc:
        _explain_or_raise(exc)


def _announce(stack: LocalStack, prefect_api_url: str | None) -> None:
    """Print where each server of the local stack listens, and what to export to use it."""
    sim = stack.simulator
    console.print(f"GMI simulator: base_url={sim.base_url} (api key {sim.api_key})")
    console.print(f"S3 (moto):     endpoint_url={stack.s3_endpoint}, bucket {stack.bucket}")
    console.print(
        f"               export AWS_ENDPOINT_URL={stack.s3_endpoint} "
        "AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local  (any keys work)"
    )
    if prefect_api_url is not None:
        ui = prefect_api_url.removesuffix("/api")
        console.print(f"Prefect:       {prefect_api_url} (UI: {ui})")
        console.print(f"               in each shell: export PREFECT_API_URL={prefect_api_url}")


def _save_simulator_block(name: str, api_key: str, base_url: str) -> None:
    """Save a GMICloudCredentials block ``name`` pointing at the simulator."""
    allow_slow_prefect_start()
    from prefect_gmicloud.blocks.credentials import GMICloudCredentials

    GMICloudCredentials(api_key=api_key, base_url=base_url).save(name, overwrite=True)
    console.print(f"saved the GMICloudCredentials block {name!r}")


def main() -> None:
    """The ``prefect-gmicloud`` command: the app, with failures in one line.

    ``--traceback`` anywhere on the command line shows the whole error instead.
    """
    args = sys.argv[1:]
    show_traceback = "--traceback" in args
    args = [arg for arg in args if arg != "--traceback"]
    try:
        app(args=args, prog_name="prefect-gmicloud")
    except Exception as exc:
        if show_traceback:
            raise
        line = explain_failure(exc) or f"{type(exc).__name__}: {exc}"
        console.print(f"[red]{escape(line)}[/red]")
        console.print("(run again with --traceback for the whole error)")
        sys.exit(1)
