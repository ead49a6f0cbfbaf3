"""Kling on GMI's queue: ``kling-v2-6``, ``kling-v3-text-to-video``, ``kling-v3-image-to-video``.

Source: the payload keys published by third-party clients of GMI's queue (no GMI page is
public for them): v2-6 takes ``prompt`` (at most 2500 characters), ``image``, ``sound``,
``duration`` "5" or "10" (strings), ``mode`` ("pro" is the value seen) and ``cfg_scale``; v3
takes ``image``, ``image_tail``, ``negative_prompt``, ``duration`` 3–15, ``sound`` on/off and,
for text to video, ``aspect_ratio``.

Left open, because nothing published says: v3's prompt limit and whether its ``duration`` is a
number or a string (both are accepted); v2-6's ``sound`` values (``"on"``/``"off"`` as v3, or a
boolean); the values of ``mode``, ``aspect_ratio`` and the range of ``cfg_scale``; which fields
GMI requires (a text model needs its prompt, an image model its image: only those are required
here); limits on the image files; the outcome's shape for v2-6 (v3 answers with ``media_urls``;
the client reads every shape).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from prefect_gmicloud.models.base import GMIPayload, MediaURL, ReferenceList, WholeSeconds
from prefect_gmicloud.models.spec import ModelSpec, ReferenceLimits, Seconds, Sound

KlingPrompt = Annotated[str, Field(max_length=2500)]
KlingV3Seconds = Annotated[int | str, WholeSeconds(3, 15)]
_IMAGE = ReferenceLimits("image")


def _sound_when_on(payload: Mapping[str, Any]) -> Sound:
    return "sound" if payload.get("sound") in ("on", True) else "silent"


class KlingV26Payload(GMIPayload):
    """``kling-v2-6``: text or image to video, 5 or 10 s.

    Example:
        ```python
        KlingV26Payload(prompt="a paper boat on a rainy street", duration="5", sound="on")
        ```
    """

    model_id: ClassVar[str] = "kling-v2-6"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="video_url",
        seconds=Seconds("duration"),
        references={"image": _IMAGE},
        sound=_sound_when_on,
        source="third-party clients of GMI's queue (payload keys)",
    )
    # In storyboards: no characters (no reference field is published), a first frame.
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()
    storyboard_first_frame: ClassVar[str | None] = "image"

    prompt: KlingPrompt | None = Field(None, description="What happens; at most 2500 characters.")
    image: MediaURL | None = Field(None, description="An image the video starts from.")
    sound: Literal["on", "off"] | bool | None = Field(
        None, description="Generate sound (its values are not published: on/off or a boolean)."
    )
    duration: Literal["5", "10"] | None = Field(
        None, description='Seconds, as a string: "5" or "10".'
    )
    mode: str | None = Field(None, description='"pro" is the value seen; others are unpublished.')
    cfg_scale: float | None = Field(None, description="How closely to follow the prompt.")


class _KlingV3(GMIPayload):
    negative_prompt: str | None = Field(None, description="What to keep out.")
    duration: KlingV3Seconds | None = Field(None, description="Seconds, 3 to 15.")
    sound: Literal["on", "off"] | None = Field(None, description="Generate sound: on or off.")


class KlingV3TextToVideoPayload(_KlingV3):
    """``kling-v3-text-to-video``: text to video, 3–15 s."""

    model_id: ClassVar[str] = "kling-v3-text-to-video"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="media_urls",
        seconds=Seconds("duration"),
        sound=_sound_when_on,
        source="third-party clients of GMI's queue (payload keys)",
    )
    # In storyboards: shots without characters or a first frame (text to video).
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()

    prompt: str = Field(description="What happens.")
    aspect_ratio: str | None = Field(None, description="The aspect ratio (values unpublished).")


class KlingV3ImageToVideoPayload(_KlingV3):
    """``kling-v3-image-to-video``: from a first (and optional last) image, 3–15 s."""

    model_id: ClassVar[str] = "kling-v3-image-to-video"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="video",
        outcome="media_urls",
        seconds=Seconds("duration"),
        references={"image": _IMAGE, "image_tail": _IMAGE},
        sound=_sound_when_on,
        source="third-party clients of GMI's queue (payload keys)",
    )
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()
    storyboard_first_frame: ClassVar[str | None] = "image"

    image: MediaURL = Field(description="The image the video starts from.")
    image_tail: MediaURL | None = Field(None, description="An image the video ends on.")
    prompt: str | None = Field(None, description="What happens.")
