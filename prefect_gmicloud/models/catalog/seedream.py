"""``seedream-5.0-lite``: Byteplus' image model on GMI's queue (text and reference images).

Source: GMI's seedream-5.0-lite page. ``prompt`` (required), ``image`` (up to 14 reference
images), ``size`` (a preset, 2K or 3K, or ``WxH`` of 3,686,400 to 10,404,496 pixels with a
width/height ratio from 1/16 to 16; 2048x2048 by default), ``output_format`` (jpeg or png),
``max_images`` (up to 15), ``sequential_image_generation`` (auto or disabled), ``watermark``.
The outcome lists the images in ``media_urls``.

Left open, because the page does not say: whether ``max_images`` counts the reference images
(it says at most 15 images "total of reference + generated"), the reference files' formats and
sizes, and a limit on the prompt (under 600 words is only recommended).
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from prefect_gmicloud.models.base import GMIPayload, MediaURL
from prefect_gmicloud.models.spec import ModelSpec, ReferenceLimits

MIN_PIXELS = 3_686_400
MAX_PIXELS = 10_404_496


def _check_size(value: str) -> str:
    if value in ("2K", "3K"):
        return value
    found = re.fullmatch(r"(\d+)x(\d+)", value)
    if found is None:
        raise ValueError('must be "2K", "3K" or "WIDTHxHEIGHT" in pixels')
    width, height = int(found.group(1)), int(found.group(2))
    if not MIN_PIXELS <= width * height <= MAX_PIXELS:
        raise ValueError(f"must hold {MIN_PIXELS:,}–{MAX_PIXELS:,} pixels, not {width * height:,}")
    if not 1 / 16 <= width / max(height, 1) <= 16:
        raise ValueError("must have a width/height ratio from 1/16 to 16")
    return value


class Seedream50LitePayload(GMIPayload):
    """``seedream-5.0-lite``: text (and up to 14 reference images) to images.

    Example:
        ```python
        Seedream50LitePayload(prompt="a cafe counter at dawn, warm light", size="2K")
        ```
    """

    model_id: ClassVar[str] = "seedream-5.0-lite"
    spec: ClassVar[ModelSpec] = ModelSpec(
        output="image",
        outcome="media_urls",
        seconds=None,
        references={"image": ReferenceLimits("image")},
        source="GMI's seedream-5.0-lite page",
    )

    prompt: str = Field(description="What to draw (under 600 words is recommended).")
    image: Annotated[list[MediaURL], Field(max_length=14)] | None = Field(
        None, description="Up to 14 reference images."
    )
    size: Annotated[str, AfterValidator(_check_size)] | None = Field(
        None, description="2K, 3K or WIDTHxHEIGHT (3.7–10.4 megapixels); 2048x2048 by default."
    )
    output_format: Literal["jpeg", "png"] | None = Field(None, description="jpeg or png.")
    max_images: Annotated[int, Field(ge=1, le=15)] | None = Field(
        None, description="Images allowed in all, up to 15."
    )
    sequential_image_generation: Literal["auto", "disabled"] | None = Field(
        None, description="auto (a consistent set) or disabled."
    )
    watermark: bool | None = Field(None, description='Add the "AI Generated" watermark.')
