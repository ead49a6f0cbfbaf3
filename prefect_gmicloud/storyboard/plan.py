"""From storyboard to payloads: pure, and every problem of every shot reported at once."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from prefect_gmicloud.errors import PayloadValidationError, StoryboardError
from prefect_gmicloud.models.base import GMIPayload, RawPayload
from prefect_gmicloud.models.registry import DEFAULT_STORYBOARD_MODEL, STORYBOARD_MODELS
from prefect_gmicloud.models.served import ServedPayload
from prefect_gmicloud.models.spec import OutputKind
from prefect_gmicloud.storyboard.media_plan import (
    MUSIC_ID,
    OUTPUTS,
    MediaItem,
    narration_job,
    plan_media,
    still_job,
)
from prefect_gmicloud.storyboard.references import (
    PlaceholderURLs,
    ReferenceURLs,
    map_references,
)
from prefect_gmicloud.storyboard.schema import (
    CONTINUING_MODELS,
    MEDIA_SETTINGS,
    SHOT_LINKS,
    Character,
    Shot,
    ShotSettings,
    Storyboard,
    settings_of,
)

PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")


#: What a planned request makes for the board.
PlannedKind = Literal["shot", "still", "narration", "music"]


@dataclass(frozen=True)
class PlannedShot:
    """A shot (or a still, a narration, the music bed) ready to submit: its payload and the
    hash of what it asks for.

    ``continues`` names the shot whose last frame this one starts from: it is submitted only
    once that shot is stored, with the frame staged at the URL its payload already names.
    ``after`` names the stills it uses (``still-<id>``), likewise submitted first and staged.
    A still's or sound's payload from a model without a typed spec is a ``RawPayload`` until
    it is checked against the parameters GMI serves (then a ``ServedPayload``).
    """

    shot_id: str
    payload: GMIPayload | ServedPayload | RawPayload
    continues: str | None = None
    after: tuple[str, ...] = ()
    kind: PlannedKind = "shot"
    #: The shot a narration is spoken over.
    for_shot: str | None = None

    @property
    def output(self) -> OutputKind:
        """What its request makes: a video for a shot, else what its kind needs."""
        return "video" if self.kind == "shot" else OUTPUTS[self.kind]

    def media_urls(self) -> list[tuple[str, str]]:
        """Each ``(field, url)`` of the media the payload names (none for a payload without a
        typed spec: the board's stills and sound send no references)."""
        return self.payload.media_urls() if isinstance(self.payload, GMIPayload) else []

    @property
    def inputs_hash(self) -> str:
        """sha256 of model + payload: equal hashes ask for the same video."""
        text = json.dumps(
            {"model": self.payload.model_id, "payload": self.payload.to_payload()},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(text.encode()).hexdigest()


def plan_storyboard(board: Storyboard, urls: ReferenceURLs | None = None) -> list[PlannedShot]:
    """The payload of every shot, in order.

    Args:
        board: the storyboard; each shot's settings are merged over its defaults.
        urls: the stable URL of each reference and continuity frame (placeholders when none:
            enough to check the board, not to send it).

    Raises:
        StoryboardError: listing every problem of every shot (duplicate ids or character names,
            unknown or unusable characters, settings the model does not take, the model's own
            limits, shots continuing unknown shots or each other in a loop, two shots asking
            for the same video).
    """
    planned, problems = plan_shots(board, urls)
    if problems:
        raise StoryboardError(board.title, problems)
    return planned


def plan_shots(
    board: Storyboard, urls: ReferenceURLs | None = None
) -> tuple[list[PlannedShot], list[str]]:
    """The shots that could be planned, and every problem of the others (see
    :func:`plan_storyboard`)."""
    urls = urls or PlaceholderURLs()
    media, problems = plan_media(board)
    stills = {item.job_id: _planned(item) for item in media if item.kind == "still"}
    names = [character.name for character in board.characters]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"characters: {name!r} is named more than once")
    by_id = {shot.id: shot for shot in board.shots}
    planned: dict[int, PlannedShot] = {}  # by shot object: ids may be duplicated
    planned_by_id: dict[str, PlannedShot] = {}
    seen: set[str] = set()
    shot_problems: dict[int, list[str]] = {}
    for shot in _sources_first(board.shots, by_id, problems):
        settings = shot.settings.merged_over(board.defaults.all())
        model = settings.model or DEFAULT_STORYBOARD_MODEL
        found = shot_problems.setdefault(id(shot), [])
        own = set(shot.settings.model_dump(exclude_none=True)) - set(SHOT_LINKS)
        used: list[str] = []  # the stills the shot uses
        cast = _Cast(board.cast, stills, used)
        data = _payload_data(model, shot.prompt, settings, own, cast, urls, found)
        if shot.continues is not None:
            data |= _continuity(model, shot.continues, planned_by_id, data, urls, found)
        if shot.starts_from is not None:
            data |= _from_still(model, shot, stills, data, urls, found, used)
        if not found:
            try:
                payload = STORYBOARD_MODELS[model].parse(data)
                planned[id(shot)] = planned_by_id[shot.id] = PlannedShot(
                    shot.id, payload, shot.continues, tuple(dict.fromkeys(used))
                )
            except PayloadValidationError as exc:
                found.extend(exc.problems)
    problems.extend(_unused_defaults(board))
    for shot in board.shots:
        if shot.id in seen:
            problems.append(f"shot {shot.id}: duplicate shot id")
        seen.add(shot.id)
        problems.extend(f"shot {shot.id}: {problem}" for problem in shot_problems.get(id(shot), []))
    shots = [planned[id(shot)] for shot in board.shots if id(shot) in planned]
    sounds = [_planned(item) for item in media if item.kind != "still"]
    ordered = [*stills.values(), *shots, *sounds]
    problems.extend(_clashing_ids(board))
    problems.extend(_same_videos(ordered))
    return ordered, problems


def _planned(item: MediaItem) -> PlannedShot:
    return PlannedShot(item.job_id, item.payload, kind=item.kind, for_shot=item.for_shot)


def _clashing_ids(board: Storyboard) -> list[str]:
    """Stills and sound share the shots' ledger and manifest: their ids must differ."""
    shots = {shot.id for shot in board.shots}
    media_ids = [still_job(still.id) for still in board.stills]
    media_ids += [narration_job(shot.id) for shot in board.shots if shot.narration is not None]
    media_ids += [MUSIC_ID] if board.sound is not None and board.sound.music is not None else []
    return [
        f"shot {job}: the id of a still or sound of the board (still-<id>, narration-<shot>, "
        "music): rename the shot"
        for job in sorted(set(media_ids) & shots)
    ]


@dataclass(frozen=True)
class _Cast:
    """The characters, the board's stills (by job id) and the stills one shot uses so far."""

    characters: dict[str, Character]
    stills: dict[str, PlannedShot]
    used: list[str]

    def __contains__(self, name: object) -> bool:
        return name in self.characters

    def __getitem__(self, name: str) -> Character:
        return self.characters[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.characters)

    def image_url(self, name: str, urls: ReferenceURLs, problems: list[str]) -> str | None:
        """The character's reference image: its own, or the still it wears."""
        character = self.characters[name]
        if character.image is not None:
            return urls.url(character.image)
        if character.still is None:
            return None
        still = self.stills.get(still_job(character.still))
        if still is None:
            problems.append(f"character {name!r} wears unknown still {character.still!r}")
            return None
        self.used.append(still.shot_id)
        return urls.still_url(still.inputs_hash)


def _from_still(
    model: str,
    shot: Shot,
    stills: dict[str, PlannedShot],
    data: dict[str, Any],
    urls: ReferenceURLs,
    problems: list[str],
    used: list[str],
) -> dict[str, Any]:
    """The payload field that makes this shot start on the still it names."""
    field = STORYBOARD_MODELS[model].storyboard_first_frame
    name = shot.starts_from
    if field is None:
        takers = ", ".join(CONTINUING_MODELS)
        problems.append(
            f"starts_from {name}, but {model} takes no first frame (models that do: {takers})"
        )
        return {}
    if field in data or shot.continues is not None:
        problems.append(f"starts_from {name} and sets {field} or continues: choose one first frame")
        return {}
    still = stills.get(still_job(name or ""))
    if still is None:
        known = ", ".join(sorted(s.removeprefix("still-") for s in stills)) or "none"
        problems.append(f"starts_from unknown still {name!r} (stills: {known})")
        return {}
    used.append(still.shot_id)
    return {field: urls.still_url(still.inputs_hash)}


def _unused_defaults(board: Storyboard) -> list[str]:
    """Defaults no shot's model takes: a slip, since a default only serves the models taking it."""
    models = {
        (shot.settings.model or board.defaults.model or DEFAULT_STORYBOARD_MODEL)
        for shot in board.shots
    }
    taken = {name for model in models for name in settings_of(model)}
    unused = set(board.defaults.all().model_dump(exclude_none=True)) - taken - {"model"}
    return [
        f"defaults: {name}: not a setting of {' or '.join(sorted(models))}"
        for name in sorted(unused)
    ]


def _sources_first(shots: list[Shot], by_id: dict[str, Shot], problems: list[str]) -> list[Shot]:
    """The shots with each one after the shot it continues; unknown sources and loops named.

    A shot in a loop, or continuing an unknown shot, is left out (its problem is reported).
    """
    order: list[Shot] = []
    placed: set[int] = set()
    visiting: set[int] = set()
    done: set[int] = set()

    def visit(shot: Shot, path: list[str]) -> bool:
        key = id(shot)
        if key in done:
            return key in placed
        if key in visiting:
            loop = " -> ".join([*path[path.index(shot.id) :], shot.id])
            problems.append(f"shot {shot.id}: continues itself through {loop}")
            return False
        visiting.add(key)
        ok = True
        if shot.continues is not None:
            source = by_id.get(shot.continues)
            if source is None:
                problems.append(f"shot {shot.id}: continues unknown shot {shot.continues!r}")
                ok = False
            else:
                ok = visit(source, [*path, shot.id])
        visiting.discard(key)
        done.add(key)
        if ok:
            order.append(shot)
            placed.add(key)
        return ok

    for shot in shots:
        visit(shot, [])
    return order


def _continuity(
    model: str,
    source: str,
    planned: dict[str, PlannedShot],
    data: dict[str, Any],
    urls: ReferenceURLs,
    problems: list[str],
) -> dict[str, Any]:
    """The payload field that makes this shot start on ``source``'s last frame."""
    field = STORYBOARD_MODELS[model].storyboard_first_frame
    if field is None:
        takers = ", ".join(CONTINUING_MODELS)
        problems.append(
            f"continues {source}, but {model} takes no first frame (models that do: {takers})"
        )
        return {}
    if field in data:
        problems.append(f"continues {source} and sets {field}: choose one first frame")
        return {}
    if source not in planned:
        return {}  # the source's own problems are reported; this shot cannot be planned
    return {field: urls.frame_url(planned[source].inputs_hash)}


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
    own: set[str],
    characters: _Cast,
    urls: ReferenceURLs,
    problems: list[str],
) -> dict[str, Any]:
    """The payload's fields. A default the model does not take is left out (defaults serve
    shots of several models); a shot's own setting the model does not take is a problem."""
    chosen = settings.model_dump(exclude_none=True, exclude={"model", *SHOT_LINKS})
    allowed = settings_of(model)
    for name in sorted((set(chosen) & own) - set(allowed)):
        problems.append(f"{name}: not a setting of {model}")
    data: dict[str, Any] = {
        name: map_references(value, urls.url) if name in MEDIA_SETTINGS else value
        for name, value in chosen.items()
        if name in allowed
    }
    names = list(dict.fromkeys(PLACEHOLDER.findall(prompt)))
    for name in names:
        if name not in characters:
            known = ", ".join(sorted(characters)) or "none"
            problems.append(f"prompt names unknown character {{{name}}} (known: {known})")
    present = [name for name in names if name in characters]
    return data | _references(model, prompt, present, characters, urls, problems)


def _references(
    model: str,
    prompt: str,
    names: list[str],
    characters: _Cast,
    urls: ReferenceURLs,
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
            problems.append(
                f"prompt names character {{{name}}}, but {model} takes no references"
                + _unpublished_naming(payload)
            )
            continue
        for ref in lists:
            if ref.kind == "video":
                url = urls.url(character.video) if character.video is not None else None
            else:
                url = characters.image_url(name, urls, problems)
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


def _unpublished_naming(payload: type[GMIPayload]) -> str:
    """Why a model with reference fields takes no characters: nothing says how its prompt
    names them (MiniMax H3), and a guess would be paid for."""
    fields = [name for name in payload.spec.references if name.startswith("reference")]
    if not fields:
        return ""
    return f" in storyboards (how its prompt names {', '.join(fields)} is not published)"


def _relabel(prompt: str, labels: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: labels.get(m.group(1), m.group(0)), prompt)
