"""The storyboard: characters, defaults and shots; loads from YAML/JSON and is a flow parameter.

Prompts name characters as ``{name}``; planning turns them into the names each model expects
(``character1`` for wan2.6-r2v, ``Video1``/``Image1`` for wan2.7-r2v) and fills in the
reference lists, so a storyboard reads the same whatever model renders it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prefect_gmicloud.errors import StoryboardError
from prefect_gmicloud.models.base import (
    MediaURL,
    NegativePrompt,
    Ratio,
    Resolution,
    Seed,
    ShotType,
    Wan26Size,
    describe_errors,
)

#: Models a storyboard can render: the reference-to-video ones (characters carry over).
StoryboardModel = Literal["wan2.7-r2v", "wan2.6-r2v"]
#: Shot ids become object keys: a slug, never a path.
ShotId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class Character(BaseModel):
    """Someone (or something) that appears in several shots: one reference, a video or image.

    A reference video carries appearance and voice and is preferred when both are given.
    """

    model_config = ConfigDict(extra="forbid")

    video: MediaURL | None = Field(None, description="A reference video of this character.")
    image: MediaURL | None = Field(None, description="A reference image of this character.")


class ShotSettings(BaseModel):
    """Generation settings; the storyboard's defaults, overridden per shot."""

    model_config = ConfigDict(extra="forbid")

    model: StoryboardModel | None = None
    size: Wan26Size | None = Field(None, description="wan2.6-r2v output size.")
    resolution: Resolution | None = Field(None, description="wan2.7-r2v resolution tier.")
    ratio: Ratio | None = Field(None, description="wan2.7-r2v aspect ratio.")
    duration: int | None = Field(None, ge=2, le=15, description="Seconds.")
    negative_prompt: NegativePrompt | None = None
    seed: Seed | None = None
    watermark: bool | None = None
    shot_type: ShotType | None = Field(None, description="wan2.6-r2v only.")
    prompt_extend: bool | None = Field(None, description="wan2.7-r2v only.")

    def merged_over(self, base: ShotSettings) -> ShotSettings:
        """These settings where set, ``base`` elsewhere."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


class Shot(BaseModel):
    """One clip: an id (its file name), a prompt naming characters as ``{name}``, overrides."""

    model_config = ConfigDict(extra="forbid")

    id: ShotId
    prompt: str = Field(min_length=1, max_length=1500)
    settings: ShotSettings = Field(default_factory=ShotSettings)


class Storyboard(BaseModel):
    """A titled, ordered list of shots sharing characters and default settings.

    Example (YAML):
        ```yaml
        title: cafe
        characters:
          barista: {video: "https://example.com/barista.mp4"}
          guest: {image: "https://example.com/guest.png"}
        defaults: {model: wan2.7-r2v, resolution: 720P, ratio: "16:9", duration: 5}
        shots:
          - {id: arrive, prompt: "{guest} walks into the cafe"}
          - {id: serve, prompt: "{barista} hands {guest} a coffee"}
        ```
    """

    model_config = ConfigDict(extra="forbid")

    title: ShotId = Field(description="Names the output folder: a lowercase slug.")
    characters: dict[str, Character] = Field(default_factory=dict)
    defaults: ShotSettings = Field(default_factory=lambda: ShotSettings(model="wan2.7-r2v"))
    shots: list[Shot] = Field(
        min_length=1, max_length=2000, description="In order; one run holds them all at once."
    )

    @classmethod
    def load(cls, path: Path | str) -> Self:
        """Read a storyboard from a ``.yaml``/``.yml`` or ``.json`` file.

        Raises:
            StoryboardError: listing every schema problem.
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            kind = "JSON" if path.suffix == ".json" else "YAML"
            raise StoryboardError(str(path), [f"not valid {kind}: {exc}"]) from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: Any, source: str = "storyboard") -> Self:
        """Validate plain data, raising :class:`StoryboardError` with every problem."""
        if not isinstance(data, dict | cls):
            kind = "nothing" if data is None else type(data).__name__
            raise StoryboardError(
                source, [f"a storyboard is a mapping of title, shots... ; got {kind}"]
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise StoryboardError(source, describe_errors(exc)) from None
