"""A board's stills and sound from models without a typed spec, checked against what GMI serves
before anything is paid."""

from __future__ import annotations

import asyncio
import dataclasses

from prefect_gmicloud.blocks.credentials import GMICloudCredentials
from prefect_gmicloud.errors import PayloadValidationError, StoryboardError
from prefect_gmicloud.models.base import RawPayload
from prefect_gmicloud.storyboard.plan import PlannedShot


async def served_checked(
    credentials: GMICloudCredentials, title: str, planned: list[PlannedShot]
) -> list[PlannedShot]:
    """``planned`` with each unchecked payload (a model without a typed spec) checked against
    the parameters GMI serves for its model (``GET /models/{id}``, cached).

    A checked payload sends the same fields, so the item's inputs hash does not change.

    Args:
        credentials: The GMI credentials of the run.
        title: The board's title, for the error.
        planned: The board's planned requests.

    Raises:
        StoryboardError: naming each item and field GMI does not serve (and what it serves),
            each required field missing, each value of the wrong type.
    """
    unchecked = [shot for shot in planned if isinstance(shot.payload, RawPayload)]
    if not unchecked:
        return planned
    async with credentials.get_client() as client:
        found = await asyncio.gather(
            *(client.validate(s.payload.model_id, s.payload.to_payload()) for s in unchecked),
            return_exceptions=True,
        )
    problems: list[str] = []
    checked: dict[str, PlannedShot] = {}
    for shot, result in zip(unchecked, found, strict=True):
        if isinstance(result, PayloadValidationError):
            problems += [f"{shot.shot_id}: {problem}" for problem in result.problems]
        elif isinstance(result, BaseException):
            raise result
        else:
            checked[shot.shot_id] = dataclasses.replace(shot, payload=result)
    if problems:
        raise StoryboardError(title, problems)
    return [checked.get(shot.shot_id, shot) for shot in planned]
