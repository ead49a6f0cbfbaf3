"""The models the simulator serves, what each produces, and their descriptions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.simulator.media import ClipSpec

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


def clip_spec(payload: dict[str, Any]) -> ClipSpec:
    """What a video request's output shows: its size, length and prompt."""
    width, height = frame_size(payload)
    duration = payload.get("duration", 5)
    seconds = duration if isinstance(duration, int) and 1 <= duration <= 60 else 5
    return ClipSpec(width, height, seconds, str(payload.get("prompt") or "")[:200])


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
