"""The models the simulator serves, what each produces, and their descriptions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.simulator.media import ClipSpec, Soundtrack
from prefect_gmicloud.simulator.references import FetchedMedia, SourceVideo

Produces = Literal["video", "image", "audio"]


@dataclass(frozen=True)
class SimModel:
    """A model on the simulated queue."""

    model_id: str
    produces: Produces
    description: str


CATALOGUE: dict[str, SimModel] = {
    **{
        model_id: SimModel(model_id, "video", f"Wan {model_id} (simulated)")
        for model_id in PAYLOAD_MODELS
    },
    "Veo3": SimModel("Veo3", "video", "A model without a local schema (simulated)"),
    "sim-image": SimModel("sim-image", "image", "An image model answering with media_urls"),
    "sim-tts": SimModel("sim-tts", "audio", "A synchronous text-to-speech model"),
}

_TIER_SHORT_SIDE = {"720P": 720, "1080P": 1080}
_RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3), "3:4": (3, 4)}


def _even(value: float) -> int:
    return int(round(value / 2) * 2)


def frame_size(payload: dict[str, Any]) -> tuple[int, int]:
    """Width and height asked for, by ``size`` (``"W*H"``) or ``resolution`` + ``ratio``."""
    size = payload.get("size")
    if isinstance(size, str) and re.fullmatch(r"\d+\*\d+", size):
        width, height = (int(part) for part in size.split("*"))
        return width, height
    short = _TIER_SHORT_SIDE.get(str(payload.get("resolution", "1080P")), 1080)
    across, down = _RATIOS.get(str(payload.get("ratio", "16:9")), (16, 9))
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

    From the vendor's pages, model by model:

    - ``wan2.6-t2v`` and ``wan2.6-i2v``: ``audio`` (default true) generates sound; an
      ``audio_url`` soundtrack is used as given. Which wins when ``audio`` is false and an
      ``audio_url`` is given is not documented: the clip keeps the given soundtrack. So an
      i2v clip has sound unless ``audio: false`` without an ``audio_url``.
    - ``wan2.6-r2v``: reference videos give each character's appearance and voice, and at least
      one is required, so every clip has sound.
    - ``wan2.7-t2v``: sound when an ``audio_url`` is given; the page says nothing of generated
      sound without one, so the clip is silent (sound is never invented).
    - ``wan2.7-i2v``: sound when ``driving_audio`` is given; silent otherwise (as above).
    - ``wan2.7-r2v``: reference videos carry the character's voice ("vocal timbre"), so a
      payload with a ``reference_video`` has sound; reference images alone give a silent clip.
    - ``wan2.7-videoedit``: GMI's page lists ``audio_setting`` without its values; the
      model's other hosts document ``auto`` (the default: the model decides from the prompt
      whether to make new sound) and ``origin`` (keep the source video's own track). So an
      edit has sound, except with ``origin`` when the fetched source has no audio stream.
    - Any other model (``Veo3`` here): no page describes its output's sound: silent.

    Where a page is silent, the client must cope with either answer: the final cut fills silent
    shots with silence, so audible and silent shots mix in one board.

    Args:
        model_id: The model asked for.
        payload: The request's payload as submitted.
        source: The fetched ``video`` of an edit, when the simulator could read it.
    """
    family_sound = WAN26_SOUND if model_id.startswith("wan2.6-") else WAN27_SOUND
    if model_id in ("wan2.6-t2v", "wan2.6-i2v"):
        audible = payload.get("audio") is not False or bool(payload.get("audio_url"))
    elif model_id == "wan2.7-videoedit":
        audible = payload.get("audio_setting") != "origin" or source is None or source.has_audio
    elif model_id == "wan2.6-r2v":
        audible = True
    elif model_id == "wan2.7-t2v":
        audible = bool(payload.get("audio_url"))
    elif model_id == "wan2.7-i2v":
        audible = bool(payload.get("driving_audio"))
    elif model_id == "wan2.7-r2v":
        audible = bool(payload.get("reference_video"))
    else:
        audible = False
    return family_sound if audible else None


def clip_spec(
    model_id: str, payload: dict[str, Any], fetched: FetchedMedia | None = None
) -> ClipSpec:
    """What a video request's output shows and sounds like: size, length, prompt, soundtrack.

    The length is ``duration``, else 5 s; an edit (``wan2.7-videoedit``) without a
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
    duration = payload.get("duration")
    source = fetched.source_video
    if duration is None and source is not None and model_id == "wan2.7-videoedit":
        duration = round(source.seconds)
    seconds = duration if isinstance(duration, int) and 1 <= duration <= 60 else 5
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


def _json_type(prop: dict[str, Any]) -> str:
    # Optional fields are anyOf [T, null]: report T.
    for option in [prop, *prop.get("anyOf", [])]:
        kind = option.get("type")
        if kind and kind != "null":
            return str(kind)
        if "enum" in option or "const" in option:
            return "string"
    return "string"


def model_description(model: SimModel) -> dict[str, Any]:
    """``GET /models/{id}``'s body, with parameters from the payload schema when there is one."""
    parameters: list[dict[str, Any]] = []
    payload_class = PAYLOAD_MODELS.get(model.model_id)
    if payload_class is not None:
        schema = payload_class.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "display_name": name.replace("_", " ").capitalize(),
                    "description": prop.get("description", ""),
                    "type": _json_type(prop),
                    "required": name in required,
                }
            )
    return {
        "model": model.model_id,
        "brief_description": model.description,
        "modalities": {"output": [model.produces]},
        "parameters": parameters,
    }
