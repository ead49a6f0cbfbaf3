"""The ``doctor`` command (registered on the ``prefect-gmicloud`` CLI)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from prefect_gmicloud.cli_credentials import credentials_from_options
from prefect_gmicloud.localstack import allow_slow_prefect_start

if TYPE_CHECKING:
    pass

console = Console(soft_wrap=True)


def doctor(
    bucket: Annotated[str, typer.Option(help="The bucket runs store into.")],
    prefix: Annotated[str, typer.Option(help="The folder in the bucket runs use.")] = "gmicloud",
    endpoint_url: Annotated[str | None, typer.Option(help="An S3-compatible endpoint.")] = None,
    credentials: Annotated[
        str, typer.Option(help="A saved GMICloudCredentials block, used unless --api-key-env.")
    ] = "gmicloud",
    api_key_env: Annotated[
        str | None, typer.Option(help="Read the API key from this environment variable.")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(help="The API root, with --api-key-env.", show_default="GMI Cloud's"),
    ] = None,
    storyboard: Annotated[
        Path | None, typer.Option(help="Also check this board: its models, its budget needs.")
    ] = None,
    concurrency_limit: Annotated[
        str | None, typer.Option(help="The Prefect global concurrency limit runs share.")
    ] = None,
    budget_limit: Annotated[
        str | None, typer.Option(help="The Prefect global concurrency limit used as budget.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check everything a run relies on; one fix per failure, exit 1 if any check fails.

    The key (GET /models), the board's models, the typed specs against what GMI serves, the
    store's conditional writes (the ledger's guarantee), writing, reading and presigning in the
    bucket, Prefect's API, the named limits, and this machine's clock against GMI's and the
    store's. Options as `storyboard run`'s. Writes only scratch objects under the prefix,
    deleted afterwards; pays for nothing.
    """
    allow_slow_prefect_start()
    from pydantic import ValidationError

    from prefect_gmicloud.doctor import report
    from prefect_gmicloud.doctor.checks import DoctorOptions, run_checks
    from prefect_gmicloud.models.base import describe_errors
    from prefect_gmicloud.storage.destination import S3Destination
    from prefect_gmicloud.storage.location import resolve_storage

    try:
        destination = S3Destination(bucket=bucket, prefix=prefix, endpoint_url=endpoint_url)
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(describe_errors(exc))) from None
    options = DoctorOptions(
        credentials=credentials_from_options(credentials, api_key_env, base_url),
        location=resolve_storage(destination),
        storyboard=storyboard,
        concurrency_limit=concurrency_limit,
        budget_limit=budget_limit,
        prefect_api_url=_prefect_api_url(),
    )
    findings = asyncio.run(run_checks(options))
    if as_json:
        print(report.as_json(findings))
    else:
        console.print(report.table(findings))
    if report.failed(findings):
        raise typer.Exit(1)


def _prefect_api_url() -> str | None:
    from prefect.settings import get_current_settings

    return get_current_settings().api.url
