"""Seedance on GMI's queue: 1.0 pro, 1.5 pro, 2.0 and 2.0 fast, one payload for all four ids.

Source: the payload keys published by third-party clients of GMI's queue: ``prompt``,
``first_frame``, ``last_frame``, ``ratio`` (not ``aspect_ratio``), ``duration``,
``resolution``. The outcome has flat ``video_url`` keys.

Left open, because nothing published says: the values of ``ratio`` and ``resolution``, the
range and JSON type of ``duration`` (a whole number or a string of one is accepted; an unset
one makes the estimate's length unknown), the prompt's limit, which fields are required (the
prompt is, for a model that needs something to draw), the image files' limits, and sound.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from prefect_gmicloud.models.base import GMIPayload, MediaURL, ReferenceList, WholeSeconds
from prefect_gmicloud.models.spec import ModelSpec, ReferenceLimits, Seconds

_IMAGE = ReferenceLimits("image")
_SEEDANCE_SPEC = ModelSpec(
    output="video",
    outcome="video_url",
    seconds=Seconds("duration"),
    references={"first_frame": _IMAGE, "last_frame": _IMAGE},
    source="third-party clients of GMI's queue (payload keys)",
)
#: A whole number of seconds, as a number or a string of one; its range is not published.
SeedanceSeconds = Annotated[int | str, WholeSeconds(1)]


class _Seedance(GMIPayload):
    spec: ClassVar[ModelSpec] = _SEEDANCE_SPEC
    # In storyboards: no characters (no reference field is published), a first frame.
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()
    storyboard_first_frame: ClassVar[str | None] = "first_frame"

    prompt: str = Field(description="What happens.")
    first_frame: MediaURL | None = Field(None, description="An image the video starts from.")
    last_frame: MediaURL | None = Field(None, description="An image the video ends on.")
    ratio: str | None = Field(None, description="The aspect ratio (values unpublished).")
    duration: SeedanceSeconds | None = Field(None, description="Seconds (range unpublished).")
    resolution: str | None = Field(None, description="The resolution (values unpublished).")


class Seedance10ProPayload(_Seedance):
    """``seedance-1-0-pro-250528``: Seedance 1.0 pro, text or first frame to video."""

    model_id: ClassVar[str] = "seedance-1-0-pro-250528"


class Seedance15ProPayload(_Seedance):
    """``seedance-1-5-pro-251215``: Seedance 1.5 pro, text or first frame to video."""

    model_id: ClassVar[str] = "seedance-1-5-pro-251215"


class Seedance20Payload(_Seedance):
    """``seedance-2-0-260128``: Seedance 2.0, text or first frame to video."""

    model_id: ClassVar[str] = "seedance-2-0-260128"


class Seedance20FastPayload(_Seedance):
    """``seedance-2-0-fast-260128``: the faster Seedance 2.0, with the same payload."""

    model_id: ClassVar[str] = "seedance-2-0-fast-260128"
