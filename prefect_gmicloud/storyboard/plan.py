"""From storyboard to payloads: pure, and every problem of every shot reported at once."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from prefect_gmicloud.errors import PayloadValidationError, StoryboardError
from prefect_gmicloud.models.base import GMIPayload
from prefect_gmicloud.models.registry import DEFAULT_STORYBOARD_MODEL, STORYBOARD_MODELS
from prefect_gmicloud.storyboard.schema import (
    Character,
    ShotSettings,
    Storyboard,
    settings_of,
)

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")


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

    Args:
        board: the storyboard; each shot's settings are merged over its defaults.

    Raises:
        StoryboardError: listing every problem of every shot (duplicate ids or character names,
            unknown or unusable characters, settings the model does not take, the model's own
            limits, two shots asking for the same video).
    """
    problems: list[str] = []
    names = [character.name for character in board.characters]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"characters: {name!r} is named more than once")
    seen: set[str] = set()
    planned: list[PlannedShot] = []
    for shot in board.shots:
        if shot.id in seen:
            problems.append(f"shot {shot.id}: duplicate shot id")
        seen.add(shot.id)
        settings = shot.settings.merged_over(board.defaults)
        model = settings.model or DEFAULT_STORYBOARD_MODEL
        shot_problems: list[str] = []
        data = _payload_data(model, shot.prompt, settings, board.cast, shot_problems)
        if not shot_problems:
            try:
                planned.append(PlannedShot(shot.id, STORYBOARD_MODELS[model].parse(data)))
            except PayloadValidationError as exc:
                shot_problems.extend(exc.problems)
        problems.extend(f"shot {shot.id}: {problem}" for problem in shot_problems)
    problems.extend(_same_videos(planned))
    if problems:
        raise StoryboardError(board.title, problems)
    return planned


def _same_videos(planned: list[PlannedShot]) -> list[str]:
    # Paid work is tracked per inputs hash: two shots with one hash would share one video.
    first: dict[str, str] = {}
    problems = []
    for shot in planned:
        earlier = first.setdefault(shot.inputs_hash, shot.shot_id)
        if earlier != shot.shot_id:
            problems.append(
                f"shots {earlier} and {shot.shot_id} ask for the same video: "
                "change the prompt or seed of one"
            )
    return problems


def _payload_data(
    model: str,
    prompt: str,
    settings: ShotSettings,
    characters: dict[str, Character],
    problems: list[str],
) -> dict[str, Any]:
    chosen = settings.model_dump(exclude_none=True, exclude={"model"})
    allowed = settings_of(model)
    for name in sorted(set(chosen) - set(allowed)):
        problems.append(f"{name}: not a setting of {model}")
    data: dict[str, Any] = {k: v for k, v in chosen.items() if k in allowed}
    names = list(dict.fromkeys(PLACEHOLDER.findall(prompt)))
    for name in names:
        if name not in characters:
            known = ", ".join(sorted(characters)) or "none"
            problems.append(f"prompt names unknown character {{{name}}} (known: {known})")
    present = [name for name in names if name in characters]
    return data | _references(model, prompt, present, characters, problems)


def _references(
    model: str,
    prompt: str,
    names: list[str],
    characters: dict[str, Character],
    problems: list[str],
) -> dict[str, Any]:
    """The prompt with each ``{name}`` relabelled, and the reference lists it needs.

    A character goes into the first of the model's reference lists whose kind (video or image)
    it has; each list numbers its own entries.
    """
    payload = STORYBOARD_MODELS[model]
    lists = payload.storyboard_references or ()
    kinds = " or ".join(dict.fromkeys(ref.kind for ref in lists))
    media: dict[str, list[str]] = {ref.field: [] for ref in lists}
    labels: dict[str, str] = {}
    for name in names:
        character = characters[name]
        if not lists:
            problems.append(f"prompt names character {{{name}}}, but {model} takes no references")
            continue
        for ref in lists:
            url = character.video if ref.kind == "video" else character.image
            if url is not None:
                media[ref.field].append(url)
                labels[name] = ref.label.format(n=len(media[ref.field]))
                break
        else:
            problems.append(f"character {name!r} needs a reference {kinds} for {model}")
    data: dict[str, Any] = {"prompt": _relabel(prompt, labels)}
    # An empty list is sent only where the payload requires the field (so its own "at least
    # one" limit speaks); elsewhere it would change the payload, and with it the inputs hash.
    data |= {
        field: urls
        for field, urls in media.items()
        if urls or payload.model_fields[field].is_required()
    }
    return data


def _relabel(prompt: str, labels: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: labels.get(m.group(1), m.group(0)), prompt)
