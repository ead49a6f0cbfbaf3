"""Payloads of the Wan 2.6 family: text-, image- and reference-to-video.

Source: GMI's model pages (``wan2.6-r2v``'s in full; the others' parameter tables), and Wan's
own documentation for the reference files (:mod:`prefect_gmicloud.models.wan_files`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, model_validator

from prefect_gmicloud.models.base import (
    GMIPayload,
    MediaURL,
    NegativePrompt,
    Prompt,
    ReferenceList,
    Resolution,
    Seed,
    ShotType,
    Wan26Size,
    check_mentions,
)
from prefect_gmicloud.models.spec import ModelSpec, Sound
from prefect_gmicloud.models.wan_files import WAN26_VIDEO, WAN_AUDIO, WAN_IMAGE

Wan26Duration = Literal[5, 10, 15]


def _sound_unless_turned_off(payload: Mapping[str, Any]) -> Sound:
    # ``audio`` (default true) generates sound; an ``audio_url`` soundtrack is used as given.
    # Which wins when ``audio`` is false and an ``audio_url`` is given is not documented: the
    # given soundtrack is assumed kept.
    return "sound" if payload.get("audio") is not False or payload.get("audio_url") else "silent"


def _voiced(payload: Mapping[str, Any]) -> Sound:
    # Reference videos give each character's appearance and voice, and one is required.
    return "sound"


class _Wan26Common(GMIPayload):
    # Text and image to video render storyboard shots without characters.
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()

    negative_prompt: NegativePrompt | None = Field(None, description="What to keep out.")
    audio_url: MediaURL | None = Field(None, description="A soundtrack to generate the video to.")
    duration: Wan26Duration | None = Field(None, description="Seconds: 5, 10 or 15.")
    prompt_extend: bool | None = Field(
        None, description="Let the model rewrite the prompt in more detail first."
    )
    shot_type: ShotType | None = Field(None, description="One continuous shot, or several cuts.")
    audio: bool | None = Field(None, description="Generate sound with the video (on by default).")
    watermark: bool | None = Field(None, description="Add the vendor's watermark.")
    seed: Seed | None = Field(None, description="The same seed and inputs give similar results.")


class Wan26T2VPayload(_Wan26Common):
    """``wan2.6-t2v``: text to video.

    Example:
        ```python
        Wan26T2VPayload(prompt="a red fox in fresh snow", size="1280*720", duration=5)
        ```
    """

    model_id: ClassVar[str] = "wan2.6-t2v"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        references={"audio_url": WAN_AUDIO},
        sound=_sound_unless_turned_off,
        source="GMI's wan2.6-t2v page",
    )

    prompt: Prompt
    size: Wan26Size | None = Field(None, description="Width*height in pixels.")


class Wan26I2VPayload(_Wan26Common):
    """``wan2.6-i2v``: image to video (``img_url`` is the first frame)."""

    model_id: ClassVar[str] = "wan2.6-i2v"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        references={"img_url": WAN_IMAGE, "audio_url": WAN_AUDIO},
        sound=_sound_unless_turned_off,
        source="GMI's wan2.6-i2v page",
    )
    storyboard_first_frame: ClassVar[str | None] = "img_url"

    img_url: MediaURL = Field(description="The image the video starts from.")
    prompt: Prompt | None = None
    resolution: Resolution | None = Field(None, description="The resolution tier.")


class Wan26R2VPayload(GMIPayload):
    """``wan2.6-r2v``: reference to video; ``reference_video_urls[i]`` is ``character{i+1}``.

    Example:
        ```python
        Wan26R2VPayload(
            prompt="character1 greets character2 at the counter",
            reference_video_urls=["https://example.com/a.mp4", "https://example.com/b.mp4"],
            duration=10,
        )
        ```
    """

    model_id: ClassVar[str] = "wan2.6-r2v"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        references={"reference_video_urls": WAN26_VIDEO},
        sound=_voiced,
        source="GMI's wan2.6-r2v page",
    )
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = (
        ReferenceList("reference_video_urls", "video", "character{n}"),
    )

    reference_video_urls: Annotated[list[MediaURL], Field(min_length=1, max_length=3)]
    prompt: Prompt | None = None
    negative_prompt: NegativePrompt | None = Field(None, description="What to keep out.")
    size: Wan26Size | None = Field(None, description="Width*height in pixels.")
    duration: Literal[5, 10] | None = Field(None, description="Seconds: 5 or 10.")
    shot_type: ShotType | None = Field(None, description="One continuous shot, or several cuts.")
    watermark: bool | None = Field(None, description="Add the vendor's watermark.")
    seed: Seed | None = Field(None, description="The same seed and inputs give similar results.")

    @model_validator(mode="after")
    def _mentions_match_references(self) -> Self:
        check_mentions(
            self.prompt, "character", len(self.reference_video_urls), "reference_video_urls"
        )
        return self
