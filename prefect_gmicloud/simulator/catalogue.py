"""The models the simulator serves, what each produces, and their descriptions.

Every typed model is served as its spec says (``prefect_gmicloud.models.catalog``): what it
makes, its outcome's shape, its sound, whether it is answered sync-style; its payloads are
checked by its payload class, and ``GET /models/{id}`` serves the class's fields as parameters.
The catalogue adds models without a typed spec, whose payloads are checked by the parameters
the simulator serves for them (as a client must check them against GMI's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prefect_gmicloud.errors import PayloadValidationError
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.models.served import ServedSchema
from prefect_gmicloud.models.spec import OutcomeShape, OutputKind, Sound, read_number, silent
from prefect_gmicloud.simulator.media import ClipSpec, Soundtrack
from prefect_gmicloud.simulator.references import FetchedMedia, SourceVideo
from prefect_gmicloud.simulator.sound import DEFAULT_FORMAT, DEFAULT_SAMPLE_RATE, SoundSpec
from prefect_gmicloud.simulator.stills import StillSpec

Produces = OutputKind


@dataclass(frozen=True)
class SimModel:
    """A model on the simulated queue.

    Attributes:
        model_id: Its id.
        produces: What it makes.
        description: ``brief_description`` in ``GET /models/{id}``.
        outcome: How its finished request's outcome names its files.
        parameters: What ``GET /models/{id}`` serves as its ``parameters``.
        payload_class: Its typed payload class; ``None`` for a model checked by its parameters.
        sync: Answered sync-style: the submit reads ``success`` and the outcome comes later.
        sound: Whether a video it makes from a payload has sound.
    """

    model_id: str
    produces: Produces
    description: str
    outcome: OutcomeShape
    parameters: tuple[dict[str, Any], ...]
    payload_class: type[GMIPayload] | None = None
    sync: bool = False
    sound: Callable[[Mapping[str, Any]], Sound] = field(default=silent)

    def problems(self, payload: dict[str, Any]) -> list[str]:
        """Why GMI would refuse ``payload`` (nothing when it is valid)."""
        if self.payload_class is not None:
            try:
                self.payload_class.parse(payload)
            except PayloadValidationError as exc:
                return exc.problems
            return []
        return ServedSchema.from_parameters(self.model_id, _parameters(self.parameters)).problems(
            payload
        )


@dataclass(frozen=True)
class _Parameter:
    name: str
    type: str | None
    required: bool


def _parameters(served: tuple[dict[str, Any], ...]) -> list[_Parameter]:
    return [_Parameter(p["name"], p.get("type"), bool(p.get("required"))) for p in served]


def _json_type(prop: dict[str, Any]) -> str:
    # Optional fields are anyOf [T, null]: report T.
    for option in [prop, *prop.get("anyOf", [])]:
        kind = option.get("type")
        if kind and kind != "null":
            return str(kind)
        if "enum" in option or "const" in option:
            return "string"
    return "string"


def class_parameters(payload_class: type[GMIPayload]) -> tuple[dict[str, Any], ...]:
    """A payload class's fields as ``GET /models/{id}`` serves parameters."""
    schema = payload_class.model_json_schema()
    required = set(schema.get("required", []))
    return tuple(
        {
            "name": name,
            "display_name": name.replace("_", " ").capitalize(),
            "description": prop.get("description", ""),
            "type": _json_type(prop),
            "required": name in required,
        }
        for name, prop in schema.get("properties", {}).items()
    )


def _typed(payload_class: type[GMIPayload]) -> SimModel:
    spec = payload_class.spec
    return SimModel(
        payload_class.model_id,
        spec.output,
        f"{payload_class.model_id} (simulated)",
        spec.outcome,
        class_parameters(payload_class),
        payload_class,
        spec.sync,
        spec.sound,
    )


#: GMI publishes nothing of minimax-music-3.0's payload: these parameters are the simulator's
#: own, so that a model without a typed spec is served and checked end to end.
_MUSIC = SimModel(
    "minimax-music-3.0",
    "audio",
    "minimax-music-3.0 (simulated; its parameters are the simulator's own: GMI publishes none)",
    "audio_url",
    (
        {"name": "prompt", "display_name": "Prompt", "description": "The music to make.",
         "type": "string", "required": True},
        {"name": "lyrics", "display_name": "Lyrics", "description": "Words to sing.",
         "type": "string", "required": False},
        {"name": "format", "display_name": "Format", "description": "mp3, flac or wav.",
         "type": "string", "required": False},
    ),
)  # fmt: skip

CATALOGUE: dict[str, SimModel] = {
    **{model_id: _typed(cls) for model_id, cls in PAYLOAD_MODELS.items()},
    _MUSIC.model_id: _MUSIC,
}

#: The short side of each resolution tier; ``2K`` (MiniMax H3) is taken as 1440 pixels.
_TIER_SHORT_SIDE = {"720P": 720, "768P": 768, "1080P": 1080, "2K": 1440}
_RATIO_FIELDS = ("ratio", "aspect_ratio", "aspectRatio")


def _even(value: float) -> int:
    return int(round(value / 2) * 2)


def _ratio(payload: Mapping[str, Any]) -> tuple[int, int]:
    for name in _RATIO_FIELDS:
        found = re.fullmatch(r"(\d+):(\d+)", str(payload.get(name) or ""))
        if found and int(found.group(1)) and int(found.group(2)):
            return int(found.group(1)), int(found.group(2))
    return 16, 9


def frame_size(payload: Mapping[str, Any]) -> tuple[int, int]:
    """Width and height asked for, by ``size`` (``"W*H"``) or a resolution tier and a ratio
    (``ratio``, ``aspect_ratio`` or Veo's ``aspectRatio``); 1080P 16:9 when unsaid."""
    size = payload.get("size")
    if isinstance(size, str) and re.fullmatch(r"\d+\*\d+", size):
        width, height = (int(part) for part in size.split("*"))
        return width, height
    short = _TIER_SHORT_SIDE.get(str(payload.get("resolution", "1080P")), 1080)
    across, down = _ratio(payload)
    if across >= down:
        return _even(short * across / down), short
    return short, _even(short * down / across)


#: The simulator's sample rates differ by family (the vendor documents none), so a final cut
#: mixing the two families really has to resample.
WAN26_SOUND = Soundtrack(sample_rate=48_000, channels=2)
WAN27_SOUND = Soundtrack(sample_rate=44_100, channels=1)


def soundtrack(
    model_id: str, payload: dict[str, Any], source: SourceVideo | None = None
) -> Soundtrack | None:
    """The audio track a model's output carries for ``payload``, or ``None`` for a silent clip.

    The model's spec says (``spec.sound``, written beside each payload class from the vendor's
    pages); where a page is silent the clip is silent: sound is never invented. A rule of
    ``"source"`` (wan2.7-videoedit with ``audio_setting: "origin"``) keeps the edited video's
    sound: silent only when the fetched source has no audio stream. The final cut fills silent
    shots with silence, so audible and silent shots mix in one board.

    Args:
        model_id: The model asked for.
        payload: The request's payload as submitted.
        source: The fetched ``video`` of an edit, when the simulator could read it.
    """
    model = CATALOGUE.get(model_id)
    rule = model.sound(payload) if model is not None else "silent"
    audible = rule == "sound" or (rule == "source" and (source is None or source.has_audio))
    family_sound = WAN26_SOUND if model_id.startswith("wan2.6-") else WAN27_SOUND
    return family_sound if audible else None


def clip_spec(
    model_id: str, payload: dict[str, Any], fetched: FetchedMedia | None = None
) -> ClipSpec:
    """What a video request's output shows and sounds like: size, length, prompt, soundtrack.

    The length is what the spec's seconds field asks (``duration``, Veo's
    ``durationSeconds``, ``"5"`` or ``5``), else 5 s; an edit (``wan2.7-videoedit``) without a
    ``duration`` lasts as long as its source video (rounded to whole seconds), as the model's
    hosts document, when the simulator fetched and read it. A fetched first-frame image
    (``first_frame``, or ``img_url`` for wan2.6-i2v) opens the clip, a ``last_frame`` ends it.

    Args:
        model_id: The model asked for (it decides the sound, see :func:`soundtrack`).
        payload: The request's payload as submitted.
        fetched: What was downloaded of the payload's references (nothing by default).
    """
    fetched = fetched or FetchedMedia()
    width, height = frame_size(payload)
    model = CATALOGUE.get(model_id)
    rule = model.payload_class.spec.seconds if model and model.payload_class else None
    asked = rule.asked(payload) if rule is not None else read_number(payload.get("duration"))
    source = fetched.source_video
    if asked is None and source is not None and model_id == "wan2.7-videoedit":
        asked = round(source.seconds)
    seconds = round(asked) if asked is not None and 1 <= asked <= 60 else 5
    prompt = str(payload.get("prompt") or "")[:200]
    return ClipSpec(
        width,
        height,
        seconds,
        prompt,
        soundtrack(model_id, payload, source),
        first_frame=fetched.first_frame,
        last_frame=fetched.last_frame,
    )


def model_description(
    model: SimModel, parameters: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``GET /models/{id}``'s body.

    Args:
        model: The model described.
        parameters: What to serve instead of its own parameters (a simulated drift).
    """
    return {
        "model": model.model_id,
        "brief_description": model.description,
        "modalities": {"output": [model.produces]},
        "parameters": list(model.parameters) if parameters is None else parameters,
    }


def still_spec(payload: Mapping[str, Any]) -> StillSpec:
    """The image an image model makes for ``payload``: ``size`` as ``2K``/``3K`` (square, as
    seedream's page says of its presets) or ``WxH``, else 2048x2048; ``output_format``."""
    size = str(payload.get("size") or "2K")
    presets = {"2K": 2048, "3K": 3072}
    found = re.fullmatch(r"(\d+)[x*](\d+)", size)
    width, height = (
        (int(found.group(1)), int(found.group(2))) if found else (presets.get(size, 2048),) * 2
    )
    fmt: Literal["jpeg", "png"] = "png" if payload.get("output_format") == "png" else "jpeg"
    return StillSpec(width, height, str(payload.get("prompt") or "")[:200], fmt)


def sound_spec(model: SimModel, payload: Mapping[str, Any]) -> SoundSpec:
    """The audio an audio model makes: speech saying ``text`` (a TTS model), else a music bed;
    at the payload's ``format``, ``audio_sample_rate`` and ``channel`` when it states them."""
    fmt = payload.get("format")
    rate = read_number(payload.get("audio_sample_rate"))
    channels = read_number(payload.get("channel"))
    speech = any(parameter["name"] == "text" for parameter in model.parameters)
    return SoundSpec(
        "speech" if speech else "music",
        str(payload.get("text" if speech else "prompt") or ""),
        fmt if fmt in ("mp3", "flac", "wav") else DEFAULT_FORMAT,
        int(rate) if rate and 8_000 <= rate <= 96_000 else DEFAULT_SAMPLE_RATE,
        2 if channels == 2 else 1,
    )
