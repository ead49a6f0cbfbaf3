"""The storyboard: characters, defaults and shots; loads from YAML/JSON and is a flow parameter.

Prompts name characters as ``{name}``; planning turns them into the names each model expects
(``character1`` for wan2.6-r2v, ``Video1``/``Image1`` for wan2.7-r2v) and fills in the
reference lists, so a storyboard reads the same whatever model renders it.

The settings a shot may set are not written here: they are the fields of the storyboard models'
payload classes (``prefect_gmicloud.models``), with their types and limits, so a model added
there is a storyboard model too. The JSON schema, which the Prefect UI renders as the run form,
is made for a person: the usual defaults as inputs, everything else (per board, per shot) as one
JSON object of only what is set, so a shot is three inputs; the characters, stills and sound are
JSON too (a few short objects, not four inputs a character); help text is one line a part (the
long form is in docs/architecture.md); optional fields are stated plainly
(no ``null`` alternative, no ``null`` default), and an optional boolean is refused (the UI can
only show it as a None/bool toggle).
"""

from __future__ import annotations

import functools
import json
import operator
import re
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeAlias

import annotated_types
import yaml
from pydantic import (
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from prefect_gmicloud.errors import StoryboardError
from prefect_gmicloud.form_schema import WithoutNones, plain_optionals
from prefect_gmicloud.media.local_files import MAX_FILE_BYTES, open_bounded
from prefect_gmicloud.models.base import describe_errors
from prefect_gmicloud.models.registry import DEFAULT_STORYBOARD_MODEL, STORYBOARD_MODELS
from prefect_gmicloud.storyboard.references import (
    Reference,
    each_reference,
    map_references,
    resolve_path,
)
from prefect_gmicloud.storyboard.stills_sound import Narration, Sound, Still, StillId

_SHOT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Shot ids become object keys: a slug, never a path.
ShotId = Annotated[str, Field(pattern=_SHOT_ID.pattern)]
#: How prompts name a character: ``{name}``.
CharacterName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

SHOTS_HELP = (
    "In order: an id (a slug), a prompt naming characters as {name}, the settings it changes "
    '(JSON: {"duration": 4}, {"continues": "greet"}).'
)


class _FormModel(WithoutNones):
    """A part of the storyboard form: unknown fields refused, unset fields not serialised."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=plain_optionals)


class Character(_FormModel):
    """Someone (or something) that appears in several shots: one reference, a video or image.

    A reference video carries appearance and voice and is preferred when both are given.
    """

    # Described in the storyboard's characters (the form shows them as one JSON list).
    name: CharacterName
    video: Reference | None = None
    image: Reference | None = None
    still: StillId | None = None


class _SettingsBase(_FormModel):
    """Generation settings; the storyboard's defaults, overridden per shot.

    The form shows them as JSON (only what is set), not as inputs: no form rules apply.
    """

    model_config = ConfigDict(json_schema_extra=None)

    def merged_over(self, base: _SettingsBase) -> Self:
        """These settings where set, ``base`` elsewhere."""
        return type(self).model_validate(
            base.model_dump(exclude_none=True) | self.model_dump(exclude_none=True)
        )


def _widen(name: str, kinds: list[Any]) -> Any:
    """One type that admits the setting ``name`` of every model; each model checks its own."""
    distinct = list(dict.fromkeys(kinds))
    if len(distinct) == 1:
        return distinct[0]
    if all(typing.get_origin(kind) is Literal for kind in distinct):
        values = [value for kind in distinct for value in typing.get_args(kind)]
        if all(isinstance(value, str) for value in values):
            return Literal[tuple(dict.fromkeys(values))]
    bounds = [_int_bounds(kind) for kind in distinct]
    if all(bound is not None for bound in bounds):
        low = min(bound[0] for bound in bounds if bound is not None)
        high = max(bound[1] for bound in bounds if bound is not None)
        return Annotated[int, Field(ge=low, le=high)]
    if all(_is_text(kind) for kind in distinct):
        return str
    # Families spell one setting differently (Wan's 5, Kling's "5", a range of either): the
    # form admits each, and the shot's own model checks its limits when the board is planned.
    return typing.Union[tuple(distinct)]  # noqa: UP007 (a union built from a list)


def _is_text(kind: Any) -> bool:
    """Whether a setting's type is text: ``str``, a limited ``str`` or a choice of strings."""
    if kind is str:
        return True
    if typing.get_origin(kind) is Annotated:
        return typing.get_args(kind)[0] is str
    if typing.get_origin(kind) is Literal:
        return all(isinstance(value, str) for value in typing.get_args(kind))
    return False


def _int_bounds(kind: Any) -> tuple[int, int] | None:
    if typing.get_origin(kind) is Literal:
        values = typing.get_args(kind)
        if all(isinstance(value, int) and not isinstance(value, bool) for value in values):
            return min(values), max(values)
        return None
    if typing.get_origin(kind) is Annotated and typing.get_args(kind)[0] is int:
        low = high = None
        for item in typing.get_args(kind)[1:]:
            for limit in item.metadata if isinstance(item, FieldInfo) else [item]:
                if isinstance(limit, annotated_types.Ge):
                    low = limit.ge
                elif isinstance(limit, annotated_types.Le):
                    high = limit.le
        if isinstance(low, int) and isinstance(high, int):
            return low, high
    return None


def _as_reference(annotation: Any) -> Any:
    """A media field's type with each URL made a :data:`Reference` (URL, s3:// or file)."""
    origin = typing.get_origin(annotation)
    if origin is list:
        return list[_as_reference(typing.get_args(annotation)[0])]  # type: ignore[misc]
    if origin in (typing.Union, types.UnionType):
        return functools.reduce(
            operator.or_, [_as_reference(arg) for arg in typing.get_args(annotation)]
        )
    if annotation is str or origin is Annotated:
        return Reference
    return annotation


def _without_none(annotation: Any) -> Any:
    options = [option for option in typing.get_args(annotation) if option is not type(None)]
    return options[0] if len(options) == 1 else annotation


def settings_of(model: str) -> dict[str, FieldInfo]:
    """The settings a storyboard shot may set for ``model``: its payload fields but the prompt
    and the reference lists, which planning fills in."""
    payload = STORYBOARD_MODELS[model]
    filled = {"prompt"} | {ref.field for ref in payload.storyboard_references or ()}
    return {name: info for name, info in payload.model_fields.items() if name not in filled}


def setting_type(model: str, name: str) -> Any:
    """The type a storyboard gives setting ``name`` of ``model``: media fields take references."""
    payload = STORYBOARD_MODELS[model]
    annotation = _without_none(payload.model_fields[name].annotation)
    return _as_reference(annotation) if name in payload.media_fields() else annotation


#: The settings that hold references (files, s3:// objects, URLs), whichever model takes them.
MEDIA_SETTINGS = sorted(
    {
        name
        for model in STORYBOARD_MODELS
        for name in STORYBOARD_MODELS[model].media_fields()
        if name in settings_of(model)
    }
)
#: The models a shot can continue another with (they take a first frame).
CONTINUING_MODELS = [m for m, cls in STORYBOARD_MODELS.items() if cls.storyboard_first_frame]


def _settings_fields() -> dict[str, Any]:
    models = ", ".join(
        f"{model_id}{' (the default)' if model_id == DEFAULT_STORYBOARD_MODEL else ''}"
        for model_id in STORYBOARD_MODELS
    )
    fields: dict[str, Any] = {
        "model": (
            Literal[tuple(STORYBOARD_MODELS)] | None,
            Field(None, description=f"The video model: {models}."),
        )
    }
    takers: dict[str, list[str]] = {}
    kinds: dict[str, list[Any]] = {}
    helps: dict[str, str] = {}
    for model_id in STORYBOARD_MODELS:
        for name, info in settings_of(model_id).items():
            takers.setdefault(name, []).append(model_id)
            kinds.setdefault(name, []).append(setting_type(model_id, name))
            helps.setdefault(name, info.description or "")
    for name, models_taking in takers.items():
        only = (
            ""
            if len(models_taking) == len(STORYBOARD_MODELS)
            else (f" Only {', '.join(models_taking)}.")
        )
        description = (helps[name] + only).strip()
        fields[name] = (_widen(name, kinds[name]) | None, Field(None, description=description))
    return fields


#: The defaults the form shows as inputs; every other setting (``seed`` among them) goes in a free
#: ``settings`` JSON.
FORM_DEFAULTS = ("model", "duration", "resolution", "ratio", "negative_prompt")
_CONTINUES_HELP = (
    "continues: the id of an earlier shot whose last frame starts this one (models that take "
    "a first frame: " + ", ".join(CONTINUING_MODELS) + ")"
)
#: What a shot's settings hold beside its model's settings: how it links to the board.
SHOT_LINKS = ("continues", "starts_from", "narration")

_ALL_SETTINGS = _settings_fields()

if TYPE_CHECKING:

    class ShotSettings(_SettingsBase):
        model: str | None = None

    class ShotOverrides(ShotSettings):
        continues: str | None = None
        starts_from: str | None = None
        narration: Narration | None = None

    MoreDefaults = _SettingsBase
else:
    ShotSettings = create_model(
        "ShotSettings",
        __base__=_SettingsBase,
        __doc__=(
            "Generation settings: the storyboard's defaults, overridden per shot. Each model "
            "takes only its own settings: a default applies to the shots whose model takes it, "
            "and planning names a shot's own setting its model does not take."
        ),
        __module__=__name__,
        **_ALL_SETTINGS,
    )
    ShotOverrides = create_model(
        "ShotOverrides",
        __base__=ShotSettings,
        __doc__="A shot's own settings (and what it starts from or says), only those it sets.",
        __module__=__name__,
        continues=(ShotId | None, Field(None, description=_CONTINUES_HELP)),
        starts_from=(
            StillId | None,
            Field(
                None,
                description="starts_from: the id of a still the board makes, as the "
                "shot's first frame",
            ),
        ),
        narration=(
            Narration | None,
            Field(None, description="narration: a line spoken from the shot's start"),
        ),
    )
    MoreDefaults = create_model(
        "MoreDefaults",
        __base__=_SettingsBase,
        __doc__="The defaults the form does not show as inputs.",
        __module__=__name__,
        **{name: spec for name, spec in _ALL_SETTINGS.items() if name not in FORM_DEFAULTS},
    )


# The types of the defaults the form shows: those of the settings of the same names.
if TYPE_CHECKING:
    _Model: TypeAlias = str | None
    _Duration: TypeAlias = int | None
    _Resolution: TypeAlias = str | None
    _Ratio: TypeAlias = str | None
    _NegativePrompt: TypeAlias = str | None
else:
    _Model, _Duration, _Resolution, _Ratio, _NegativePrompt = (
        _ALL_SETTINGS[name][0] for name in FORM_DEFAULTS
    )


def _json_object(description: str | None = None) -> WithJsonSchema:
    """A form field shown as one JSON editor: an object without ``properties`` (Prefect's UI
    renders those as JSON), validated as its model on the worker."""
    schema: dict[str, Any] = {"type": "object"}
    return WithJsonSchema(schema | {"description": description} if description else schema)


class StoryboardDefaults(_FormModel):
    """The settings of every shot unless it overrides them: the usual ones as inputs, the
    rest in ``settings`` (JSON).

    A file may also list any setting directly under ``defaults``; it is filed where it belongs.
    """

    # The inputs say what they are (the storyboard's defaults say what an empty model means),
    # and each model checks its own limits, named in the error; models without one leave it out.
    model: _Model = None
    # Seconds: a whole number, or a string for the models that spell it so (kling-v2-6's "5");
    # the form offers the two, not one toggle per model's own range.
    duration: Annotated[
        _Duration, WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}]})
    ] = None
    resolution: _Resolution = None
    ratio: _Ratio = None
    negative_prompt: _NegativePrompt = None
    settings: Annotated[
        MoreDefaults,
        _json_object('Any other default, as JSON, e.g. {"seed": 7, "watermark": false}.'),
    ] = Field(default_factory=MoreDefaults, title="More settings")

    @model_validator(mode="before")
    @classmethod
    def _file_each_setting(cls, value: Any) -> Any:
        # Files write defaults flat ({model, size, duration}); the form nests the rest.
        if not isinstance(value, dict):
            return value
        top = {name: v for name, v in value.items() if name in FORM_DEFAULTS}
        rest = dict(value.get("settings") or {})
        extra = {n: v for n, v in value.items() if n not in FORM_DEFAULTS and n != "settings"}
        for name in [n for n in rest if n in FORM_DEFAULTS]:
            moved = rest.pop(name)
            if name in top and top[name] != moved:
                raise ValueError(
                    f"{name} is set twice, to {top[name]!r} and in settings to {moved!r}"
                )
            top[name] = moved
        return {**top, "settings": {**extra, **rest}}

    def all(self) -> ShotSettings:
        """Every default, in one set of settings."""
        data = self.model_dump(exclude_none=True, exclude={"settings"})
        return ShotSettings.model_validate(data | self.settings.model_dump(exclude_none=True))


class Shot(_FormModel):
    """One clip: an id (its file name), a prompt naming characters as ``{name}``, and the
    settings it changes (JSON; ``continues`` among them).

    A file may write ``continues``, ``starts_from`` and ``narration`` beside the prompt; they
    are filed under ``settings``.
    """

    # Described once, in the storyboard's shots (the form repeats a shot's fields per shot).
    id: ShotId
    prompt: str = Field(min_length=1, max_length=1500)
    settings: Annotated[ShotOverrides, _json_object()] = Field(
        default_factory=ShotOverrides, title="Settings"
    )

    @model_validator(mode="before")
    @classmethod
    def _links_in_settings(cls, value: Any) -> Any:
        if isinstance(value, dict) and any(name in value for name in SHOT_LINKS):
            value = dict(value)
            settings = dict(value.get("settings") or {})
            for name in SHOT_LINKS:
                linked = value.pop(name, None)
                if linked is not None:
                    settings[name] = linked
            value["settings"] = settings
        return value

    @property
    def continues(self) -> str | None:
        """The id of the shot whose last frame this one starts from, if any."""
        value: str | None = getattr(self.settings, "continues", None)
        return value

    @property
    def starts_from(self) -> str | None:
        """The id of the still that is this shot's first frame, if any."""
        value: str | None = getattr(self.settings, "starts_from", None)
        return value

    @property
    def narration(self) -> Narration | None:
        """The line spoken from this shot's start, if any."""
        value: Narration | None = getattr(self.settings, "narration", None)
        return value


class Storyboard(_FormModel):
    """A titled, ordered list of shots sharing characters and default settings.

    Characters are a list of ``{name, video, image}``; files may also give them as a mapping
    from name to ``{video, image}``.

    Example (YAML):
        ```yaml
        title: cafe
        characters:
          barista: {video: "https://example.com/barista.mp4"}
          guest: {image: "https://example.com/guest.png"}
        defaults: {model: wan2.7-r2v, resolution: 720P, ratio: "16:9", duration: 5}
        shots:
          - {id: arrive, prompt: "{guest} walks into the cafe"}
          - {id: serve, prompt: "{barista} hands {guest} a coffee", settings: {duration: 4}}
        ```
    """

    title: ShotId = Field(description="Names the output folder: a lowercase slug.")
    characters: Annotated[
        list[Character], WithJsonSchema({"type": "array", "items": {"type": "object"}})
    ] = Field(
        default_factory=list,
        description='Each {"name", "video" or "image"}: an https URL, s3://bucket/key or file '
        "path; prompts say {name}.",
    )
    defaults: StoryboardDefaults = Field(
        default_factory=StoryboardDefaults,
        description=f"Settings of every shot unless it overrides them; no model: "
        f"{DEFAULT_STORYBOARD_MODEL}.",
    )
    shots: list[Shot] = Field(
        min_length=1,
        max_length=2000,
        description=SHOTS_HELP,
    )
    # Stills and sound are JSON in the form: few boards have them, and each is a small object.
    stills: Annotated[
        list[Still], WithJsonSchema({"type": "array", "items": {"type": "object"}})
    ] = Field(
        default_factory=list,
        description='Images made first, each {"id", "model", "prompt"}, for a shot\'s '
        'starts_from or a character\'s "still".',
    )
    sound: Annotated[
        Sound | None,
        _json_object('Narration\'s voice and a music bed: {"voice": {...}, "music": {...}}.'),
    ] = Field(None, title="Sound")

    # The folder of the file this board was loaded from in this process (never a parameter).
    _folder: Path | None = PrivateAttr(None)

    def __eq__(self, other: object) -> bool:
        # Where a board was read from is not what it says.
        if not isinstance(other, Storyboard):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    @property
    def folder(self) -> Path | None:
        """The folder of the file :meth:`load` read this board from (``None`` otherwise): its
        files are the caller's own, so a run may read them (see ``storyboard.trust``)."""
        return self._folder

    @model_validator(mode="wrap")
    @classmethod
    def _problems_by_shot(cls, value: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        # One message naming each shot by its id, for the CLI and for a run's parameters alike.
        try:
            return handler(value)
        except ValidationError as exc:
            problems = storyboard_problems(exc, value)
            raise PydanticCustomError(
                "storyboard", "{problems}", {"problems": "; ".join(problems), "list": problems}
            ) from None

    @field_validator("characters", mode="before")
    @classmethod
    def _characters_by_name(cls, value: Any) -> Any:
        # The YAML form: {name: {video: ..., image: ...}}.
        if isinstance(value, dict):
            return [
                {"name": name, **spec} if isinstance(spec, dict) else spec
                for name, spec in value.items()
            ]
        return value

    def files_relative_to(self, folder: Path) -> Self:
        """This storyboard with every file reference made absolute against ``folder``."""

        def settings(values: _SettingsBase) -> _SettingsBase:
            data = values.model_dump(exclude_none=True)
            return type(values).model_validate(
                {
                    name: map_references(value, lambda ref: resolve_path(ref, folder))
                    if name in MEDIA_SETTINGS
                    else value
                    for name, value in data.items()
                }
            )

        defaults = self.defaults.model_copy(update={"settings": settings(self.defaults.settings)})
        return self.model_copy(
            update={
                "characters": [
                    c.model_copy(
                        update={
                            kind: resolve_path(ref, folder)
                            for kind in ("video", "image")
                            if (ref := getattr(c, kind)) is not None
                        }
                    )
                    for c in self.characters
                ],
                "defaults": defaults,
                "shots": [
                    s.model_copy(update={"settings": settings(s.settings)}) for s in self.shots
                ],
            }
        )

    def references(self) -> list[str]:
        """Every reference the storyboard names, once each, in order of appearance."""
        found: list[str] = []
        for character in self.characters:
            found += [ref for ref in (character.video, character.image) if ref is not None]
        for values in [self.defaults.settings, *(shot.settings for shot in self.shots)]:
            for name in MEDIA_SETTINGS:
                found += each_reference(getattr(values, name, None))
        return list(dict.fromkeys(found))

    @property
    def cast(self) -> dict[str, Character]:
        """The characters by name (the last of any two with one name)."""
        return {character.name: character for character in self.characters}

    @classmethod
    def load(cls, path: Path | str) -> Self:
        """Read a storyboard from a ``.yaml``/``.yml`` or ``.json`` file.

        Raises:
            StoryboardError: listing every schema problem.
            OSError: the file cannot be read, or is not a regular file of at most 200 MB
                (``RefusedFile``).
        """
        path = Path(path)
        # A FIFO or a device named as the board would be read for ever: refused from fstat.
        with open_bounded(path, MAX_FILE_BYTES) as file:
            text = file.read().decode("utf-8")
        try:
            data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            kind = "JSON" if path.suffix == ".json" else "YAML"
            raise StoryboardError(str(path), [f"not valid {kind}: {exc}"]) from None
        board = cls.parse(data, str(path)).files_relative_to(path.parent.resolve())
        board._folder = path.parent.resolve()
        return board

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
            problems = [
                line
                for error in exc.errors(include_url=False)
                for line in (error.get("ctx") or {}).get("list", [])
            ]
            raise StoryboardError(source, problems or describe_errors(exc)) from None


def storyboard_problems(exc: ValidationError, data: Any) -> list[str]:
    """One line per problem of ``exc``; a shot's own problems name the shot by its id.

    Args:
        exc: the errors of validating ``data`` as a storyboard.
        data: what was validated.
    """
    shots = data.get("shots") if isinstance(data, dict) else None
    characters = data.get("characters") if isinstance(data, dict) else None
    lines = []
    for error, line in zip(exc.errors(include_url=False), describe_errors(exc), strict=True):
        loc = error["loc"]
        name = _character_name(characters, loc[1]) if loc[0] == "characters" else None
        if name is not None and len(loc) > 2:
            # The form gives characters as JSON: name the one, and the fields it may have.
            if error["type"] == "extra_forbidden":
                fields = ", ".join(Character.model_fields)
                lines.append(f"character {name}: {loc[2]}: not a field of a character ({fields})")
            else:
                lines.append(f"character {name}: {line.removeprefix(f'characters.{loc[1]}.')}")
            continue
        shot = _shot_id(shots, loc[1]) if len(loc) > 2 and loc[0] == "shots" else None
        if shot is None:
            lines.append(line)
            continue
        where = ".".join(str(part) for part in loc[2:])
        if error["type"] == "extra_forbidden" and loc[2] == "settings":
            lines.append(f"shot {shot}: {where}: not a setting of any storyboard model")
        else:
            lines.append(f"shot {shot}: {line.removeprefix(f'shots.{loc[1]}.')}")
    return lines


def _character_name(characters: Any, index: object) -> str | None:
    """The name of character ``index`` in raw data (a list, or a mapping by name)."""
    if isinstance(characters, dict):
        characters = [{"name": name} for name in characters]
    if not isinstance(characters, list) or not isinstance(index, int) or index >= len(characters):
        return None
    found = characters[index]
    name = found.get("name") if isinstance(found, dict) else getattr(found, "name", None)
    return name if isinstance(name, str) and name else None


def _shot_id(shots: Any, index: object) -> str | None:
    """The id of shot ``index`` in raw data, when it is a valid one (else it is named by
    its place)."""
    if not isinstance(shots, list) or not isinstance(index, int) or index >= len(shots):
        return None
    shot = shots[index]
    found = shot.get("id") if isinstance(shot, dict) else getattr(shot, "id", None)
    return found if isinstance(found, str) and _SHOT_ID.fullmatch(found) else None
