"""From a board's stills and sound to payloads: pure, every problem reported at once.

A model with a typed spec is checked here (its limits, and that it makes the right kind of
output); any other model's payload is kept as given, to be checked against the parameters GMI
serves for it before anything is paid (:func:`prefect_gmicloud.flows.media_checks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from prefect_gmicloud.errors import PayloadValidationError
from prefect_gmicloud.models.base import GMIPayload, RawPayload
from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.models.spec import OutputKind
from prefect_gmicloud.storyboard.schema import Storyboard
from prefect_gmicloud.storyboard.stills_sound import Sound

MediaKind = Literal["still", "narration", "music"]
#: What each kind of item must be made by.
OUTPUTS: dict[MediaKind, OutputKind] = {"still": "image", "narration": "audio", "music": "audio"}
#: The payload field each kind's own text goes in (TTS takes ``text``, others a ``prompt``).
TEXT_FIELDS: dict[MediaKind, str] = {"still": "prompt", "narration": "text", "music": "prompt"}
#: The id of the board's music bed in its ledger, manifest and review.
MUSIC_ID = "music"


def still_job(still_id: str) -> str:
    """The ledger and manifest id of a still: ``still-<id>``."""
    return f"still-{still_id}"


def narration_job(shot_id: str) -> str:
    """The ledger and manifest id of a shot's narration: ``narration-<shot>``."""
    return f"narration-{shot_id}"


@dataclass(frozen=True)
class MediaItem:
    """A still, a narration or the music bed, ready to be paid for like a shot.

    Attributes:
        job_id: Its id in the ledger and the manifest.
        kind: What it is.
        payload: Typed and checked, or (a model without a typed spec) as given, checked
            against the parameters GMI serves before it is paid.
        for_shot: The shot a narration is spoken over.
    """

    job_id: str
    kind: MediaKind
    payload: GMIPayload | RawPayload
    for_shot: str | None = None


def plan_media(board: Storyboard) -> tuple[list[MediaItem], list[str]]:
    """The board's stills, narrations and music bed, and every problem with them.

    Args:
        board: The storyboard.

    Returns:
        The items that could be planned (stills first, then each shot's narration, then the
        music), and one ``"<item>: <problem>"`` line per problem.
    """
    items: list[MediaItem] = []
    problems: list[str] = []
    ids = [still.id for still in board.stills]
    for name in sorted({name for name in ids if ids.count(name) > 1}):
        problems.append(f"stills: {name!r} is named more than once")
    for still in board.stills:
        label = f"still {still.id}"
        payload = _payload("still", still.model, still.settings, still.prompt, label, problems)
        if payload is not None:
            items.append(MediaItem(still_job(still.id), "still", payload))
    sound = board.sound or Sound()
    for shot in board.shots:
        if shot.narration is None:
            continue
        line = shot.narration
        model = line.model or sound.voice.model
        settings = sound.voice.settings | line.settings
        label = f"shot {shot.id}: narration"
        payload = _payload("narration", model, settings, line.text, label, problems)
        if payload is not None:
            items.append(MediaItem(narration_job(shot.id), "narration", payload, shot.id))
    if sound.music is not None:
        music = sound.music
        payload = _payload("music", music.model, music.settings, music.prompt, "music", problems)
        if payload is not None:
            items.append(MediaItem(MUSIC_ID, "music", payload))
    return items, problems


def _payload(
    kind: MediaKind,
    model: str,
    settings: dict[str, Any],
    text: str,
    label: str,
    problems: list[str],
) -> GMIPayload | RawPayload | None:
    field = TEXT_FIELDS[kind]
    if field in settings:
        problems.append(f"{label}: settings.{field}: give it as the {kind}'s own text instead")
        return None
    data = settings | {field: text}
    typed = PAYLOAD_MODELS.get(model)
    if typed is None:
        # Checked against GET /models/{id} before anything is paid.
        return RawPayload(model_id=model, data=data)
    wanted = OUTPUTS[kind]
    if typed.spec.output != wanted:
        problems.append(
            f"{label}: model {model} makes {typed.spec.output}, not {wanted} "
            f"(typed {wanted} models: {', '.join(_makers(wanted))})"
        )
        return None
    try:
        return typed.parse(data)
    except PayloadValidationError as exc:
        problems.extend(f"{label}: {problem}" for problem in exc.problems)
        return None


def _makers(output: OutputKind) -> list[str]:
    return sorted(model for model, cls in PAYLOAD_MODELS.items() if cls.spec.output == output)
