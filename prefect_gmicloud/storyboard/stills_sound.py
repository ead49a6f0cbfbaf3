"""What a storyboard makes besides its shots: stills, narration and a music bed.

Each is a paid request like a shot (claimed, paid once, stored, reviewed and counted in the
estimate), to an image, speech or music model:

- a **still** (``stills:``) is an image made from a prompt; a shot starts from it
  (``starts_from: <still id>``, in the model's first-frame field) or a character wears it as
  its reference image (``characters: {name: {still: <still id>}}``). Shots that use a still
  are submitted only once it is stored.
- **narration** (``narration:`` on a shot) is a line spoken by a TTS model; the final cut
  plays it from the shot's start, over the clip's own sound.
- a **music bed** (``sound: {music: ...}``) plays under the whole cut, lowered while anyone
  speaks.

``settings`` are the model's other payload fields, passed as given: a model with a typed spec
checks them by its limits when the board is planned, any other model by the parameters GMI
serves for it (``GET /models/{id}``) before anything is paid, so a misspelt field is refused,
not silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from prefect_gmicloud.form_schema import WithoutNones, plain_optionals

#: A still's id: a slug, as a shot's.
StillId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
#: The voice a board speaks with when neither it nor a narration says.
DEFAULT_VOICE_MODEL = "minimax-tts-speech-2.8-hd"
#: How loud the music bed plays under the clips' own sound (a factor), before ducking.
DEFAULT_MUSIC_VOLUME = 0.3


class _Part(WithoutNones):
    """A part of the board: unknown fields refused, unset ones not serialised."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=plain_optionals)


class Still(_Part):
    """An image the board makes, for shots to start from or characters to wear."""

    id: StillId = Field(description="Shots and characters name the still by it: a slug.")
    model: str = Field(min_length=1, description="The image model, e.g. seedream-5.0-lite.")
    prompt: str = Field(min_length=1, description="What the image shows.")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="The model's other payload fields (size, output_format...), as GMI names "
        "them: checked by its typed limits, or by the parameters GMI serves for it.",
    )


class Narration(_Part):
    """A line spoken over a shot, from its start."""

    text: str = Field(min_length=1, description="What the narrator says.")
    model: str | None = Field(None, description="The speech model; the board's voice when unset.")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Payload fields of this line only (over the voice's), e.g. emotion.",
    )


class Voice(_Part):
    """How the board's narration is spoken unless a line says otherwise."""

    model: str = Field(DEFAULT_VOICE_MODEL, min_length=1, description="The speech (TTS) model.")
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Payload fields of every line (voice_id, speed, format...).",
    )


class MusicBed(_Part):
    """Music under the whole cut, lowered while narration speaks."""

    model: str = Field(min_length=1, description="The music model, e.g. minimax-music-3.0.")
    prompt: str = Field(min_length=1, description="The music to make.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="The model's other payload fields, as GMI names them."
    )
    volume: float = Field(
        DEFAULT_MUSIC_VOLUME,
        gt=0,
        le=1,
        description="How loud the bed plays under the clips (a factor of its own level), "
        "before it is lowered under speech.",
    )


class Sound(_Part):
    """The board's voice and its music bed."""

    voice: Voice = Field(default_factory=Voice, description="How narration is spoken.")
    music: MusicBed | None = Field(None, description="A music bed under the whole cut.")
