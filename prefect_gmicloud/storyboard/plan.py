"""From storyboard to payloads: pure, and every problem of every shot reported at once."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from prefect_gmicloud.errors import PayloadValidationError, StoryboardError
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.models.registry import PAYLOAD_MODELS
from prefect_gmicloud.storyboard.schema import Character, ShotSettings, Storyboard

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")

# Which settings each model takes; the others are refused rather than silently dropped.
_SETTINGS_OF = {
    "wan2.6-r2v": {"size", "duration", "negative_prompt", "seed", "watermark", "shot_type"},
    "wan2.7-r2v": {
        "resolution", "ratio", "duration", "negative_prompt", "seed", "watermark", "prompt_extend",
    },
}  # fmt: skip


@dataclass(frozen=True)
class PlannedShot:
    """A shot ready to submit: its payload and the hash of what it asks for."""

    shot_id: str
    payload: GMIPayload

    @property
    def inputs_hash(self) -> str:
        """sha256 of model + payload: equal hashes ask for the same video."""
        text = json.dumps(
            {"model": self.payload.model_id, "payload": self.payload.to_payload()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()


def plan_storyboard(board: Storyboard) -> list[PlannedShot]:
    """The payload of every shot, in order.

    Raises:
        StoryboardError: listing every problem of every shot (duplicate ids, unknown or
            unusable characters, settings the model does not take, the model's own limits).
    """
    problems: list[str] = []
    seen: set[str] = set()
    planned: list[PlannedShot] = []
    for shot in board.shots:
        if shot.id in seen:
            problems.append(f"shot {shot.id}: duplicate shot id")
        seen.add(shot.id)
        settings = shot.settings.merged_over(board.defaults)
        model = settings.model or "wan2.7-r2v"
        shot_problems: list[str] = []
        data = _payload_data(model, shot.prompt, settings, board.characters, shot_problems)
        if not shot_problems:
            try:
                planned.append(PlannedShot(shot.id, PAYLOAD_MODELS[model].parse(data)))
            except PayloadValidationError as exc:
                shot_problems.extend(exc.problems)
        problems.extend(f"shot {shot.id}: {problem}" for problem in shot_problems)
    if problems:
        raise StoryboardError(board.title, problems)
    return planned


def _payload_data(
    model: str,
    prompt: str,
    settings: ShotSettings,
    characters: dict[str, Character],
    problems: list[str],
) -> dict[str, Any]:
    chosen = settings.model_dump(exclude_none=True, exclude={"model"})
    for name in sorted(set(chosen) - _SETTINGS_OF[model]):
        problems.append(f"{name}: not a setting of {model}")
    data: dict[str, Any] = {k: v for k, v in chosen.items() if k in _SETTINGS_OF[model]}
    names = list(dict.fromkeys(PLACEHOLDER.findall(prompt)))
    for name in names:
        if name not in characters:
            known = ", ".join(sorted(characters)) or "none"
            problems.append(f"prompt names unknown character {{{name}}} (known: {known})")
    if problems:
        return data
    if model == "wan2.6-r2v":
        data |= _wan26_references(prompt, names, characters, problems)
    else:
        data |= _wan27_references(prompt, names, characters, problems)
    return data


def _wan26_references(
    prompt: str, names: list[str], characters: dict[str, Character], problems: list[str]
) -> dict[str, Any]:
    # wan2.6-r2v takes videos only; the i-th becomes "character{i}".
    videos: list[str] = []
    labels: dict[str, str] = {}
    for name in names:
        video = characters[name].video
        if video is None:
            problems.append(f"character {name!r} needs a reference video for wan2.6-r2v")
            continue
        videos.append(video)
        labels[name] = f"character{len(videos)}"
    return {"prompt": _relabel(prompt, labels), "reference_video_urls": videos}


def _wan27_references(
    prompt: str, names: list[str], characters: dict[str, Character], problems: list[str]
) -> dict[str, Any]:
    # wan2.7-r2v numbers videos and images separately: "Video1", "Image1".
    videos: list[str] = []
    images: list[str] = []
    labels: dict[str, str] = {}
    for name in names:
        character = characters[name]
        if character.video is not None:
            videos.append(character.video)
            labels[name] = f"Video{len(videos)}"
        elif character.image is not None:
            images.append(character.image)
            labels[name] = f"Image{len(images)}"
        else:
            problems.append(f"character {name!r} has no reference video or image")
    data: dict[str, Any] = {"prompt": _relabel(prompt, labels)}
    if videos:
        data["reference_video"] = videos
    if images:
        data["reference_image"] = images
    return data


def _relabel(prompt: str, labels: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: labels.get(m.group(1), m.group(0)), prompt)
