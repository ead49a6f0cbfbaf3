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
from dataclasses import dataclass, field
from typing import Any

from prefect import get_run_logger, runtime
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field

from prefect_gmicloud.errors import StorageError, StoryboardNotApproved
from prefect_gmicloud.flows.report import report_storyboard
from prefect_gmicloud.flows.storyboard_run import StoryboardRun
from prefect_gmicloud.form_schema import plain_optionals
from prefect_gmicloud.ledger.entry import ReviewMark
from prefect_gmicloud.ledger.shot import ShotResult
from prefect_gmicloud.reporting import best_effort
from prefect_gmicloud.storage.location import StorageLocation
from prefect_gmicloud.storyboard.plan import PlannedShot
from prefect_gmicloud.storyboard.reference_checks import plan_checked
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.storyboard.staging import StagedReferences

#: How often a run paused for review asks Prefect whether it was answered.
REVIEW_POLL_SECONDS = 3


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


@dataclass
class ReviewRounds:
    """A run's rounds of review: ask, mark each shot shown, regenerate the rejected ones, and
    ask again until every shot is approved.

    Args:
        board: The board as the run planned it (earlier reviews' changes applied).
        book: Where the reviewed changes are kept for later runs.
        changes: The changes so far (``book``'s, as loaded).
        references: The run's staged references, for planning rejected shots again.
        location: Where the board is stored (for the run page's table).
        timeout: Seconds to wait for each answer.
    """

    board: Storyboard
    book: ReviewBook
    changes: dict[str, dict[str, Any]]
    references: StagedReferences
    location: StorageLocation
    timeout: int
    #: How many times the run paused.
    rounds: int = 0
    _note: str = ""
    _rng: random.Random = field(default_factory=random.Random)

    async def until_approved(
        self, current: StoryboardRun, plans: dict[str, PlannedShot]
    ) -> list[ShotResult]:
        """Ask until every shot is approved; the outcomes of the shots generated again.

        Args:
            current: The run, every shot stored.
            plans: The planned requests by id; rejected shots' new plans replace theirs.

        Raises:
            StoryboardNotApproved: the reviewer stopped, or nobody answered within
                ``timeout`` seconds.
        """
        regenerated: list[ShotResult] = []
        while True:
            shown = sorted(current.outcomes)
            answer = await self._ask(current, shown)
            self._note = self._unusable(answer, shown, plans)
            if self._note:
                continue
            rejected = {change.shot: change.note for change in answer.reject}
            await current.review(_verdicts(answer, shown, rejected))
            if answer.stop:
                why = f"stopped by {answer.reviewer or 'the reviewer'}"
                raise StoryboardNotApproved(current.title, why, current.ledger.uri)
            if not rejected:
                get_run_logger().info(
                    "storyboard %s approved by %s", current.title, answer.reviewer or "?"
                )
                return regenerated
            again = await self._planned_again(answer, plans)
            regenerated += await current.settle(again)
            if any(outcome.state != "stored" for outcome in current.outcomes.values()):
                return regenerated

    async def _ask(self, current: StoryboardRun, shown: list[str]) -> StoryboardReview:
        """Show the run's shots, pause, and wait for a person's answer."""
        self.rounds += 1
        await best_effort(current.show_versions())
        key = self.location.key(current.title, "manifest.json")
        await best_effort(report_storyboard(current.manifest, self.location, key))
        get_run_logger().info(
            "paused for review (round %d): answer on the run's page in the Prefect UI "
            "(Resume), or with `prefect-gmicloud storyboard review %s` (approves all; "
            "--reject SHOT regenerates one)",
            self.rounds,
            runtime.flow_run.id,
        )
        description = (
            f"Review storyboard **{current.title}** (round {self.rounds}): the run's artifacts "
            "show every shot. Submit with no rejection to approve all of "
            f"{', '.join(shown)}.{self._note}"
        )
        try:
            return await apause_flow_run(
                wait_for_input=StoryboardReview.with_initial_data(description=description),
                timeout=self.timeout,
                poll_interval=REVIEW_POLL_SECONDS,
                key=f"review-{self.rounds}",
            )
        except FlowPauseTimeout:
            why = f"no review within {self.timeout} s"
            raise StoryboardNotApproved(current.title, why, current.ledger.uri) from None

    def _unusable(
        self, answer: StoryboardReview, shown: list[str], plans: dict[str, PlannedShot]
    ) -> str:
        """Why nothing can be changed from ``answer`` (the next form says it); empty if usable."""
        unknown = sorted({change.shot for change in answer.reject} - set(shown))
        if unknown:
            get_run_logger().warning(
                "review named unknown shot(s) %s; asking again", ", ".join(unknown)
            )
            return f" Unknown shot(s) {', '.join(unknown)}: nothing was changed; answer again."
        fixed = sorted(c.shot for c in answer.reject if plans[c.shot].kind != "shot")
        if fixed:
            # A review changes a shot's prompt or seed; a still's or sound's are the board's.
            get_run_logger().warning("review rejected %s; asking again", ", ".join(fixed))
            return (
                f" {', '.join(fixed)}: stills and sound are changed in the board itself, not "
                "by review: nothing was changed; answer again."
            )
        return ""

    async def _planned_again(
        self, answer: StoryboardReview, plans: dict[str, PlannedShot]
    ) -> list[PlannedShot]:
        """Keep the answer's changes and plan the shots they change: the rejected ones, and
        every shot continuing one of them (its first frame changes)."""
        self.changes.update(changes_from(answer, self._rng))
        await self.book.save(dict(self.changes))
        replanned = plan_checked(apply_changes(self.board, self.changes), self.references)
        again = [s for s in replanned if s.inputs_hash != plans[s.shot_id].inputs_hash]
        # Only what changed: a still's or sound's payload stays the one checked against GMI.
        plans.update({shot.shot_id: shot for shot in again})
        get_run_logger().info("regenerating %s after review", ", ".join(s.shot_id for s in again))
        return again


def _verdicts(
    answer: StoryboardReview, shown: list[str], rejected: dict[str, str | None]
) -> dict[str, ReviewMark]:
    return {
        shot: ReviewMark(
            verdict="rejected" if shot in rejected else "approved",
            by=answer.reviewer,
            note=rejected.get(shot),
        )
        for shot in shown
    }
