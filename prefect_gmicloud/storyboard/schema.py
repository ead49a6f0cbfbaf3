"""The storyboard: characters, defaults and shots; loads from YAML/JSON and is a flow parameter.

Prompts name characters as ``{name}``; planning turns them into the names each model expects
(``character1`` for wan2.6-r2v, ``Video1``/``Image1`` for wan2.7-r2v) and fills in the
reference lists, so a storyboard reads the same whatever model renders it.

The settings a shot may set are not written here: they are the fields of the storyboard models'
payload classes (``prefect_gmicloud.models``), with their types and limits, so a model added
there is a storyboard model too. The JSON schema, which the Prefect UI renders as the run form,
states optional fields plainly (no ``null`` alternative, no ``null`` default): the UI would show
each as a type toggle, and it leaves an empty field out of the parameters anyway.
"""

from __future__ import annotations

import functools
import json
import operator
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

import annotated_types
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    create_model,
    field_validator,
    model_serializer,
)
from pydantic.fields import FieldInfo

from prefect_gmicloud.errors import StoryboardError
from prefect_gmicloud.models.base import describe_errors
from prefect_gmicloud.models.registry import DEFAULT_STORYBOARD_MODEL, STORYBOARD_MODELS
from prefect_gmicloud.storyboard.references import (
    Reference,
    each_reference,
    map_references,
    resolve_path,
)
from prefect_gmicloud.storyboard.stills_sound import Narration, Sound, Still, StillId

#: Shot ids become object keys: a slug, never a path.
ShotId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
#: How prompts name a character: ``{name}``.
CharacterName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

PROMPT_HELP = 'Up to 1500 characters. Name characters as {name}: "{barista} hands {guest} a cup".'
SHOTS_HELP = (
    "In order (the final cut follows it); one run holds them all at once. A prompt names a "
    "character as {name}; each model gets the names and reference lists it expects "
    "(Video1/Image1 for wan2.7-r2v, character1 for wan2.6-r2v). Models without references "
    "(wan2.7-t2v) take prompts that name no one."
)


def plain_optionals(schema: dict[str, Any]) -> None:
    """Drop the ``null`` alternative and ``null`` default of every optional property but
    booleans.

    Prefect's UI renders ``X | None`` as a type toggle starting on "None" with no input;
    without the alternative an optional field is a plain input left empty. A boolean keeps
    its toggle: as a plain switch it would be sent as ``false`` when left alone.
    """
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf")
        # An optional part of the board (a shot's narration, the music bed) is likewise left
        # unset: shown open, its required fields would hold up every form left without one.
        part = options and {"type": "null"} in options and any("$ref" in o for o in options)
        if options and ({"type": "boolean"} in options or part):
            # A switch has no "unset": the UI would send false for every switch left alone
            # (prompt_extend off, audio off, or a setting the shot's model does not take).
            # Unset, on and off are three answers: the type toggle stays, starting on None
            # (the UI starts on the first alternative).
            prop["anyOf"] = [{"type": "null"}, *(o for o in options if o != {"type": "null"})]
            prop.pop("default", None)
            continue
        if options and {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            del prop["anyOf"]
            if len(rest) == 1:
                prop.update(rest[0])
            else:
                prop["anyOf"] = rest
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class _FormModel(BaseModel):
    """A part of the storyboard form: unknown fields refused, unset fields not serialised.

    Leaving ``None`` out keeps the parameters Prefect stores valid against the form's schema.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=plain_optionals)

    @model_serializer(mode="wrap")
    def _without_nones(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {name: value for name, value in data.items() if value is not None}


class Character(_FormModel):
    """Someone (or something) that appears in several shots: one reference, a video or image.

    A reference video carries appearance and voice and is preferred when both are given.
    """

    name: CharacterName = Field(
        description="Prompts name this character as {name}: letters, digits, - and _."
    )
    video: Reference | None = Field(
        None,
        description="A reference video: an https URL, an s3://bucket/key, or a file path "
        "(relative to the storyboard file). Preferred when both are given.",
    )
    image: Reference | None = Field(
        None, description="A reference image: an https URL, an s3://bucket/key, or a file path."
    )
    still: StillId | None = Field(
        None, description="The id of a still the board makes, as the reference image."
    )


class _SettingsBase(_FormModel):
    """Generation settings; the storyboard's defaults, overridden per shot."""

    model: str | None = None

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


def _settings_fields(described: bool) -> dict[str, Any]:
    models = ", ".join(
        f"{model_id}{' (the default)' if model_id == DEFAULT_STORYBOARD_MODEL else ''}"
        for model_id in STORYBOARD_MODELS
    )
    fields: dict[str, Any] = {
        "model": (
            Literal[tuple(STORYBOARD_MODELS)] | None,
            Field(None, description=f"The video model: {models}." if described else None),
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
        description = (helps[name] + only).strip() if described else None
        fields[name] = (_widen(name, kinds[name]) | None, Field(None, description=description))
    return fields


if TYPE_CHECKING:
    ShotSettings = _SettingsBase
    ShotOverrides = _SettingsBase
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
        **_settings_fields(described=True),
    )
    # The same fields, undescribed: the form shows them once per shot, and the defaults
    # already say what each is.
    ShotOverrides = create_model(
        "ShotOverrides",
        __base__=_SettingsBase,
        __doc__="A shot's own settings: the same as the defaults, which describe each.",
        __module__=__name__,
        **_settings_fields(described=False),
    )


class Shot(_FormModel):
    """One clip: an id (its file name), a prompt naming characters as ``{name}``, overrides."""

    id: ShotId = Field(
        description="Names the shot's video and thumbnail files: a lowercase slug, unique."
    )
    prompt: str = Field(min_length=1, max_length=1500, description=PROMPT_HELP)
    continues: ShotId | None = Field(
        None,
        description="The id of an earlier shot this one starts from: its last frame becomes "
        "this shot's first frame (models that take one: " + ", ".join(CONTINUING_MODELS) + ").",
    )
    starts_from: StillId | None = Field(
        None,
        description="The id of a still the board makes: the shot's first frame (models that "
        "take one, as for continues).",
    )
    narration: Narration | None = Field(
        None, description="A line spoken from the shot's start, over its own sound."
    )
    settings: ShotOverrides = Field(
        default_factory=ShotOverrides,
        title="Settings of this shot",
        description="Override the storyboard's defaults (described there) for this shot only.",
    )


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
          - {id: serve, prompt: "{barista} hands {guest} a coffee"}
        ```
    """

    title: ShotId = Field(description="Names the output folder: a lowercase slug.")
    characters: list[Character] = Field(
        default_factory=list,
        description="Who appears in several shots; prompts name them as {name}.",
    )
    defaults: ShotSettings = Field(
        default_factory=ShotSettings,
        description=f"Settings of every shot unless it overrides them (model: "
        f"{DEFAULT_STORYBOARD_MODEL} when unset).",
    )
    shots: list[Shot] = Field(
        min_length=1,
        max_length=2000,
        description=SHOTS_HELP,
    )
    stills: list[Still] = Field(
        default_factory=list,
        description="Images the board makes first: shots start from them (starts_from), "
        "characters wear them (still).",
    )
    sound: Sound | None = Field(
        None, description="The voice of the shots' narration, and a music bed under the cut."
    )

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
                "defaults": settings(self.defaults),
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
        for values in [self.defaults, *(shot.settings for shot in self.shots)]:
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
        """
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        try:
            data: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            kind = "JSON" if path.suffix == ".json" else "YAML"
            raise StoryboardError(str(path), [f"not valid {kind}: {exc}"]) from None
        return cls.parse(data, str(path)).files_relative_to(path.parent.resolve())

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
