"""A deployment's options kept under a run's: Prefect merges a run's parameters over its
deployment's one name deep, so a run setting ``options`` (``prefect deployment run --param
options='{"review": true}'``, ``run_deployment``) would otherwise drop every option the
deployment set, its shared quota among them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect import get_client, get_run_logger, runtime

from prefect_gmicloud.storyboard.options import StoryboardOptions


async def with_deployment_options(options: StoryboardOptions) -> StoryboardOptions:
    """``options`` over its deployment's: an option the run did not set keeps the value its
    deployment gives it (set one to ``null`` to clear it), else its default.

    Args:
        options: The run's options, as validated from its parameters.
    """
    deployment_id = runtime.deployment.id
    if deployment_id is None:
        return options
    async with get_client() as prefect:
        deployment = await prefect.read_deployment(UUID(str(deployment_id)))
    preset: Any = (deployment.parameters or {}).get("options")
    if not isinstance(preset, dict):
        return options
    given = options.model_dump(include=options.model_fields_set)
    kept = sorted(set(preset) - set(given))
    if not kept:
        return options
    get_run_logger().info(
        "options the run did not set keep the deployment's values: %s", ", ".join(kept)
    )
    return StoryboardOptions.model_validate({**preset, **given})
