"""Payloads of the Wan 2.7 family: text-, image-, reference-to-video and video editing.

Source: GMI's model pages (``wan2.7-r2v``'s in full; the others' parameter tables), and Wan's
own documentation for the reference files (:mod:`prefect_gmicloud.models.wan_files`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import Field, model_validator

from prefect_gmicloud.models.base import (
    GMIPayload,
    MediaURL,
    NegativePrompt,
    Prompt,
    Ratio,
    ReferenceList,
    Resolution,
    Seed,
    check_mentions,
)
from prefect_gmicloud.models.spec import ModelSpec, Sound
from prefect_gmicloud.models.wan_files import WAN27_VIDEO, WAN_AUDIO, WAN_IMAGE

Wan27Duration = Annotated[int, Field(ge=2, le=15)]
MAX_R2V_REFERENCES = 5
#: Third parties report this cap when a reference video is present; the vendor page does not.
R2V_VIDEO_REFERENCE_DURATION_HINT = 10


def _sound_with(field: str) -> Callable[[Mapping[str, Any]], Sound]:
    """Sound exactly when ``field`` is given: the pages say nothing of sound without it, and
    sound is never invented."""

    def rule(payload: Mapping[str, Any]) -> Sound:
        return "sound" if payload.get(field) else "silent"

    return rule


def _edit_sound(payload: Mapping[str, Any]) -> Sound:
    # GMI's page lists ``audio_setting`` without its values; the model's other hosts document
    # ``auto`` (the default: the model decides whether to make new sound) and ``origin`` (keep
    # the source video's own track).
    return "source" if payload.get("audio_setting") == "origin" else "sound"


class _Wan27Common(GMIPayload):
    negative_prompt: NegativePrompt | None = Field(None, description="What to keep out.")
    prompt_extend: bool | None = Field(
        None, description="Let the model rewrite the prompt in more detail first."
    )
    watermark: bool | None = Field(None, description="Add the vendor's watermark.")
    seed: Seed | None = Field(None, description="The same seed and inputs give similar results.")


class Wan27T2VPayload(_Wan27Common):
    """``wan2.7-t2v``: text to video, 2–15 s."""

    model_id: ClassVar[str] = "wan2.7-t2v"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        references={"audio_url": WAN_AUDIO},
        sound=_sound_with("audio_url"),
        source="GMI's wan2.7-t2v page",
    )
    # In storyboards: shots without characters (an establishing shot).
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()

    prompt: Prompt
    audio_url: MediaURL | None = Field(None, description="A soundtrack to generate the video to.")
    resolution: Resolution | None = Field(None, description="The resolution tier.")
    ratio: Ratio | None = Field(None, description="The aspect ratio.")
    duration: Wan27Duration | None = Field(None, description="Seconds, 2 to 15.")


class Wan27I2VPayload(_Wan27Common):
    """``wan2.7-i2v``: image to video from a first (and optional last) frame or a first clip."""

    model_id: ClassVar[str] = "wan2.7-i2v"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        references={
            "first_frame": WAN_IMAGE,
            "last_frame": WAN_IMAGE,
            "first_clip": WAN27_VIDEO,
            "driving_audio": WAN_AUDIO,
        },
        sound=_sound_with("driving_audio"),
        source="GMI's wan2.7-i2v page",
    )
    # In storyboards: shots that start from a still, or continue another shot.
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()
    storyboard_first_frame: ClassVar[str | None] = "first_frame"

    prompt: Prompt | None = None
    first_frame: MediaURL | None = Field(None, description="An image the video starts from.")
    last_frame: MediaURL | None = Field(None, description="An image the video ends on.")
    driving_audio: MediaURL | None = Field(
        None, description="Audio the video is driven by (speech, music)."
    )
    first_clip: MediaURL | None = Field(None, description="A clip the video continues.")
    resolution: Resolution | None = Field(None, description="The resolution tier.")
    duration: Wan27Duration | None = Field(None, description="Seconds, 2 to 15.")


class Wan27R2VPayload(_Wan27Common):
    """``wan2.7-r2v``: reference to video. Name references ``Video1``…, ``Image1``… in the prompt.

    At least one reference image or video is required, at most 5 in all.

    Example:
        ```python
        Wan27R2VPayload(
            prompt="Video1 hands Image1 a coffee",
            reference_video=["https://example.com/barista.mp4"],
            reference_image=["https://example.com/guest.png"],
            ratio="16:9",
            duration=5,
        )
        ```
    """

    model_id: ClassVar[str] = "wan2.7-r2v"
    # Reference videos carry the character's voice ("vocal timbre"); images alone give none.
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        references={
            "reference_video": WAN27_VIDEO,
            "reference_image": WAN_IMAGE,
            "first_frame": WAN_IMAGE,
        },
        sound=_sound_with("reference_video"),
        source="GMI's wan2.7-r2v page",
    )
    # Videos and images are numbered separately: "Video1", "Image1".
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = (
        ReferenceList("reference_video", "video", "Video{n}"),
        ReferenceList("reference_image", "image", "Image{n}"),
    )
    storyboard_first_frame: ClassVar[str | None] = "first_frame"

    prompt: Prompt
    first_frame: MediaURL | None = Field(None, description="An image the video starts from.")
    reference_image: Annotated[list[MediaURL], Field(max_length=MAX_R2V_REFERENCES)] | None = None
    reference_video: Annotated[list[MediaURL], Field(max_length=MAX_R2V_REFERENCES)] | None = None
    resolution: Resolution | None = Field(None, description="The resolution tier.")
    ratio: Ratio | None = Field(None, description="The aspect ratio.")
    duration: Wan27Duration | None = Field(
        None, description="Seconds, 2 to 15 (reportedly at most 10 with a reference video)."
    )

    @model_validator(mode="after")
    def _references_within_limits(self) -> Self:
        images = len(self.reference_image or [])
        videos = len(self.reference_video or [])
        if images + videos == 0:
            raise ValueError("reference_image + reference_video: at least 1 reference, got 0")
        if images + videos > MAX_R2V_REFERENCES:
            raise ValueError(
                f"reference_image + reference_video: at most {MAX_R2V_REFERENCES} references "
                f"in all, got {images + videos}"
            )
        check_mentions(self.prompt, "Video", videos, "reference_video")
        check_mentions(self.prompt, "Image", images, "reference_image")
        if videos and (self.duration or 0) > R2V_VIDEO_REFERENCE_DURATION_HINT:
            warnings.warn(
                f"wan2.7-r2v duration {self.duration}s with a reference video: third parties "
                f"report a {R2V_VIDEO_REFERENCE_DURATION_HINT}s cap in that case (unconfirmed "
                "by the vendor); the request is sent as asked.",
                UserWarning,
                stacklevel=2,
            )
        return self


class Wan27VideoEditPayload(_Wan27Common):
    """``wan2.7-videoedit``: edit ``video`` as the prompt says, optionally guided by images."""

    model_id: ClassVar[str] = "wan2.7-videoedit"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        references={"video": WAN27_VIDEO, "reference_image": WAN_IMAGE},
        sound=_edit_sound,
        source="GMI's wan2.7-videoedit page",
    )
    # In storyboards: a shot that edits a clip (a file, an s3:// object or a URL).
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()

    prompt: Prompt
    video: MediaURL = Field(description="The video to edit.")
    # The vendor names it in the singular without saying whether it is one URL or a list.
    reference_image: MediaURL | list[MediaURL] | None = Field(
        None, description="Images guiding the edit."
    )
    resolution: Resolution | None = Field(None, description="The resolution tier.")
    duration: Wan27Duration | None = Field(None, description="Seconds, 2 to 15.")
    audio_setting: str | None = Field(
        None, description="What to do with the video's sound (passed to the model as given)."
    )
