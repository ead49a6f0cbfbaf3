"""A person reviews a storyboard's shots in the Prefect UI before the final cut is made.

The run pauses with an input form (``apause_flow_run(wait_for_input=StoryboardReview)``): approve
every shot shown, or reject some, each with an optional new prompt or seed. Rejected shots are
paid for again with the change (a rejection without a change gets a new seed, so the next take
differs), and the form comes back until everything is approved. A person's changes are kept
beside the ledger (``<prefix>/<title>/review.json``) and applied by every later run of the board,
so a nightly schedule never goes back to a rejected take.

A paused run that times out fails, and Prefect cannot resume a failed run with new input; so
nothing depends on that run: every shot is stored and recorded, and running the board again
reuses them and asks again.
"""

from __future__ import annotations

import random
from typing import Any

from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field

from prefect_gmicloud.errors import StorageError
from prefect_gmicloud.storage.location import StorageLocation
from prefect_gmicloud.storyboard.schema import Storyboard, plain_optionals


class ShotChange(BaseModel):
    """A rejected shot and what to change before it is generated again."""

    model_config = ConfigDict(json_schema_extra=plain_optionals)

    shot: str = Field(description="The id of the shot to generate again.")
    prompt: str | None = Field(
        None, description="A new prompt (name characters as {name}); empty keeps the old one."
    )
    seed: int | None = Field(
        None, ge=0, le=2147483647, description="A new seed; empty picks a new one at random."
    )
    note: str | None = Field(None, description="Why, for the shot's history.")


class StoryboardReview(RunInput):
    """The review form: approve the shots shown, or reject some to generate them again."""

    model_config = ConfigDict(json_schema_extra=plain_optionals)

    reject: list[ShotChange] = Field(
        default_factory=list,
        description="Shots to generate again (paid again), each with an optional new prompt "
        "or seed. Leave empty to approve every shot shown.",
    )
    reviewer: str | None = Field(None, description="Your name, kept in each shot's history.")
    stop: bool = Field(
        False,
        description="End the run without a final cut (everything stays stored; run the "
        "storyboard again to review later).",
    )


class ReviewBook:
    """The board's reviewed changes (shot -> prompt and seed), read by every run of it."""

    def __init__(self, location: StorageLocation, key: str) -> None:
        self.location = location
        self.key = key

    @property
    def uri(self) -> str:
        return self.location.uri(self.key)

    async def load(self) -> dict[str, dict[str, Any]]:
        """The changes so far (none when the board was never reviewed).

        Raises:
            StorageError: the review book is there but unreadable.
        """
        document = await self.location.read_json(self.key)
        if document is None:
            return {}
        changes = document.value.get("changes", {}) if isinstance(document.value, dict) else None
        if not isinstance(changes, dict):
            raise StorageError(self.uri, 'review changes unreadable (no "changes" mapping)')
        return changes

    async def save(self, changes: dict[str, dict[str, Any]]) -> None:
        """Keep ``changes`` for later runs."""
        await self.location.write_json(self.key, {"changes": changes})


def changes_from(review: StoryboardReview, rng: random.Random) -> dict[str, dict[str, Any]]:
    """Each rejected shot's change; a rejection that changes nothing gets a new seed."""
    changes: dict[str, dict[str, Any]] = {}
    for change in review.reject:
        update: dict[str, Any] = {}
        if change.prompt:
            update["prompt"] = change.prompt
        if change.seed is not None or not change.prompt:
            update["seed"] = change.seed if change.seed is not None else rng.randrange(2**31)
        changes[change.shot] = update
    return changes


def apply_changes(board: Storyboard, changes: dict[str, dict[str, Any]]) -> Storyboard:
    """``board`` with reviewed prompts and seeds in place (validated like any storyboard)."""
    if not changes:
        return board
    data = board.model_dump(mode="json")
    for shot in data["shots"]:
        change = changes.get(shot["id"], {})
        if "prompt" in change:
            shot["prompt"] = change["prompt"]
        if "seed" in change:
            shot.setdefault("settings", {})["seed"] = change["seed"]
    return Storyboard.parse(data, f"storyboard {board.title} with reviewed changes")
