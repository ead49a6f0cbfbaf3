"""MiniMax video on GMI's queue: ``Minimax-Hailuo-2.3-Fast`` and ``MiniMax-H3``.

Source: the payload keys published by third-party clients of GMI's queue. Hailuo 2.3 Fast:
``prompt`` (at most 2000 characters; camera moves as tags like ``[Pan Right]``), ``duration``
6, ``resolution`` 768P, ``prompt_optimizer``. H3: ``prompt`` (at most 7000 characters),
``resolution`` 768P or 2K, ``duration`` 4–15, ``ratio``, ``first_frame_image``,
``last_frame_image``, ``reference_images`` (at most 9), ``reference_videos`` (at most 3) and
``reference_audios`` (at most 3).

Left open, because nothing published says: whether Hailuo 2.3 Fast takes an image (none is
published, so none is accepted: the drift check names it if GMI serves one), the JSON type of
the durations (a whole number or a string of one is accepted), ``ratio``'s values, how an H3
prompt names its references (so H3 is not yet a storyboard model with characters), the
reference files' limits, the outcome's shape (flat ``video_url`` is assumed; the client reads
every shape) and sound.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from prefect_gmicloud.models.base import GMIPayload, MediaURL, ReferenceList, WholeSeconds
from prefect_gmicloud.models.spec import ModelSpec, ReferenceLimits, Seconds

_SOURCE = "third-party clients of GMI's queue (payload keys and limits)"


class HailuoFastPayload(GMIPayload):
    """``Minimax-Hailuo-2.3-Fast``: 6 s clips at 768P; camera moves as ``[Pan Right]`` tags.

    Example:
        ```python
        HailuoFastPayload(prompt="[Pan Right] a market at dawn", duration=6)
        ```
    """

    model_id: ClassVar[str] = "Minimax-Hailuo-2.3-Fast"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video", outcome="video_url", seconds=Seconds("duration"), source=_SOURCE
    )
    # In storyboards: text only (no image field is published).
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()

    prompt: Annotated[str, Field(max_length=2000)] = Field(
        description="What happens; at most 2000 characters."
    )
    duration: Annotated[int | str, WholeSeconds(6, 6)] | None = Field(
        None, description="Seconds: 6."
    )
    resolution: Literal["768P"] | None = Field(None, description="768P.")
    prompt_optimizer: bool | None = Field(None, description="Let the model rewrite the prompt.")


class MiniMaxH3Payload(GMIPayload):
    """``MiniMax-H3``: text, frames and references to video, 4–15 s at 768P or 2K."""

    model_id: ClassVar[str] = "MiniMax-H3"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        seconds=Seconds("duration"),
        references={
            "first_frame_image": ReferenceLimits("image"),
            "last_frame_image": ReferenceLimits("image"),
            "reference_images": ReferenceLimits("image"),
            "reference_videos": ReferenceLimits("video"),
            "reference_audios": ReferenceLimits("audio"),
        },
        source=_SOURCE,
    )
    # In storyboards: a first frame, but no characters: how an H3 prompt names its reference
    # lists is not published, so its reference fields are left to the shot's own settings.
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()
    storyboard_first_frame: ClassVar[str | None] = "first_frame_image"

    prompt: Annotated[str, Field(max_length=7000)] = Field(
        description="What happens; at most 7000 characters."
    )
    resolution: Literal["768P", "2K"] | None = Field(None, description="768P or 2K.")
    duration: Annotated[int | str, WholeSeconds(4, 15)] | None = Field(
        None, description="Seconds, 4 to 15."
    )
    ratio: str | None = Field(None, description="The aspect ratio (values unpublished).")
    first_frame_image: MediaURL | None = Field(None, description="An image the video starts from.")
    last_frame_image: MediaURL | None = Field(None, description="An image the video ends on.")
    reference_images: Annotated[list[MediaURL], Field(max_length=9)] | None = Field(
        None, description="Up to 9 reference images."
    )
    reference_videos: Annotated[list[MediaURL], Field(max_length=3)] | None = Field(
        None, description="Up to 3 reference videos."
    )
    reference_audios: Annotated[list[MediaURL], Field(max_length=3)] | None = Field(
        None, description="Up to 3 reference audio files."
    )
