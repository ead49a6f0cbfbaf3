"""Veo 3 on GMI's queue: ``Veo3`` and ``Veo3-Fast``, one payload (the ids differ only in speed).

Source: the payload keys published by third-party clients of GMI's queue. Veo's keys are
camelCase: ``prompt``, ``durationSeconds`` "4", "6" or "8" (strings), ``aspectRatio`` 16:9 or
9:16, ``negativePrompt``, ``personGeneration``, ``seed``. The outcome has flat ``video_url``
keys.

Left open, because nothing published says: the prompt's limit, ``personGeneration``'s values,
the seed's range, the default length (an unset ``durationSeconds`` counts at 8 s in estimates),
and whether the output has sound (the simulator makes it silent).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from prefect_gmicloud.models.base import GMIPayload, ReferenceList
from prefect_gmicloud.models.spec import ModelSpec, Seconds

_VEO3_SPEC = ModelSpec(
    output="video",
    outcome="video_url",
    seconds=Seconds("durationSeconds"),
    source="third-party clients of GMI's queue (payload keys and values)",
)


class _Veo3(GMIPayload):
    # In storyboards: text only (no image or reference field is published).
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = ()

    prompt: str = Field(description="What happens.")
    # camelCase: the API's own names.
    durationSeconds: Literal["4", "6", "8"] | None = Field(
        None, description='Seconds, as a string: "4", "6" or "8".'
    )
    aspectRatio: Literal["16:9", "9:16"] | None = Field(None, description="16:9 or 9:16.")
    negativePrompt: str | None = Field(None, description="What to keep out.")
    personGeneration: str | None = Field(
        None, description="Whether people may be shown (values unpublished)."
    )
    seed: int | None = Field(None, description="The same seed and inputs give similar results.")


class Veo3Payload(_Veo3):
    """``Veo3``: text to video, 4, 6 or 8 s (``durationSeconds`` is a string).

    Example:
        ```python
        Veo3Payload(prompt="a lighthouse in a storm", durationSeconds="8", aspectRatio="16:9")
        ```
    """

    model_id: ClassVar[str] = "Veo3"
    spec: ClassVar[ModelSpec] = _VEO3_SPEC


class Veo3FastPayload(_Veo3):
    """``Veo3-Fast``: the faster Veo 3, with the same payload as :class:`Veo3Payload`."""

    model_id: ClassVar[str] = "Veo3-Fast"
    spec: ClassVar[ModelSpec] = _VEO3_SPEC
