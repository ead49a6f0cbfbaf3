"""The credentials a command was given: a saved block's name, or a key from the environment."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from prefect_gmicloud.blocks.credentials import GMICloudCredentials


def credentials_from_options(
    block: str, api_key_env: str | None, base_url: str | None
) -> GMICloudCredentials | str:
    """The block's name, or an unsaved block of the key in ``$api_key_env`` (and ``base_url``).

    Args:
        block: the saved GMICloudCredentials block's name (``--credentials``).
        api_key_env: the environment variable holding the key (``--api-key-env``), if given.
        base_url: the API's base URL with ``--api-key-env`` (``--base-url``); the default when
            ``None``.

    Raises:
        typer.BadParameter: ``$api_key_env`` is empty or unset.
    """
    if api_key_env is None:
        return block
    key = os.environ.get(api_key_env, "")
    if not key:
        raise typer.BadParameter(f"${api_key_env} is empty or unset", param_hint="--api-key-env")
    from prefect_gmicloud.blocks.credentials import GMICloudCredentials  # Prefect: only now

    if base_url is None:
        return GMICloudCredentials(api_key=key)
    return GMICloudCredentials(api_key=key, base_url=base_url)
