"""``StoryboardOptions``: how a storyboard run pays, waits, reviews and finishes.

One model for every way a run starts: ``run_storyboard``'s ``options`` parameter (one JSON
object in the Prefect run form), the flags of
``prefect-gmicloud storyboard run`` (one per field, made from this model) and a deployment's
``parameters.options``. An option is added here, and only here: its field, type, limits and
description serve all three.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

_HOUR = 3600.0


class StoryboardOptions(BaseModel):
    """How a storyboard run pays, waits, reviews and finishes; every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrency: int = Field(
        4,
        ge=1,
        le=256,
        description="At most this many shots generate at once in this run (and as many "
        "store their files at once).",
    )
    concurrency_limit: str | None = Field(
        None,
        min_length=1,
        description="A Prefect global concurrency limit shared by all runs and workers: one "
        "slot per request in flight (one GMI quota).",
    )
    final_cut: bool = Field(
        True,
        description="Join the shots into final.mp4 and tile a contact-sheet.jpg once every "
        "shot is stored (and approved, with review).",
    )
    force: bool = Field(
        False,
        description="Pay for every shot again, setting aside what earlier runs stored (their "
        "requests stay in each shot's history in the ledger).",
    )
    poll_interval: float = Field(
        1.0,
        gt=0,
        le=300,
        description="Seconds before the first status read of a request; later pauses grow.",
    )
    queue_timeout: float = Field(
        6 * _HOUR,
        gt=0,
        description="Seconds a request may stay queued before its shot fails (the request "
        "stays recorded, and a later run collects it).",
    )
    processing_timeout: float = Field(
        _HOUR,
        gt=0,
        description="Seconds a request may process before its shot fails (likewise).",
    )
    resubmit_missing: bool = Field(
        False,
        description="Pay again for a shot whose recorded request GMI answers 404 for; "
        "otherwise such a shot is reported and its request id kept.",
    )
    review: bool = Field(
        False,
        description="Pause for a person's review once every shot is stored, before the final "
        "cut: answer on the run's page in the Prefect UI or with `prefect-gmicloud "
        "storyboard review RUN_ID`.",
    )
    review_timeout: int = Field(
        24 * 3600,
        ge=1,
        description="Seconds to wait for each review; past it the run ends, everything "
        "stored, and running the storyboard again asks again.",
    )
    max_generated_seconds: float | None = Field(
        None,
        ge=0,
        description="Refuse the run, before anything is paid, if the shots it would pay for "
        "(not those already stored) would generate more seconds than this.",
    )
    max_cost: float | None = Field(
        None,
        ge=0,
        description="Likewise for their cost, from the prices GMI's model details state; with "
        "a price unknown the run is refused.",
    )
    budget_limit: str | None = Field(
        None,
        min_length=1,
        description="A Prefect global concurrency limit used as a budget shared by all runs "
        "and workers: its slots are generated seconds, each shot takes its seconds just "
        "before its submit (a limit with a slot decay refills over time).",
    )
    budget_wait: float = Field(
        60.0,
        ge=1,
        description="Seconds a shot may wait for budget_limit to have its seconds before it "
        "fails, unpaid.",
    )
    board_lock: bool = Field(
        False,
        description="Hold a Prefect lock on the board while paying, so only one run of it "
        "pays at a time on any worker. Needed only on a store that ignores conditional "
        "writes (checked before anything is paid: such a store is otherwise refused).",
    )


#: ``StoryboardOptions`` as a flow parameter: one JSON editor in the run form (an object
#: without ``properties``, which Prefect's UI renders as JSON), validated as the model when the
#: run starts, so a wrong field or value fails the run before anything is paid, naming it.
OptionsParameter = Annotated[StoryboardOptions, WithJsonSchema({"type": "object"})]
