"""Storyboards: the schema, and planning them into validated payloads."""

from prefect_gmicloud.errors import StoryboardError
from prefect_gmicloud.storyboard.options import StoryboardOptions
from prefect_gmicloud.storyboard.plan import PlannedShot, plan_storyboard
from prefect_gmicloud.storyboard.schema import (
    Character,
    Shot,
    ShotSettings,
    Storyboard,
)

__all__ = [
    "Character",
    "PlannedShot",
    "Shot",
    "ShotSettings",
    "Storyboard",
    "StoryboardError",
    "StoryboardOptions",
    "plan_storyboard",
]
