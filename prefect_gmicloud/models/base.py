"""The base of every typed payload, and the rewriting of pydantic errors into plain limits."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import core_schema

from prefect_gmicloud.errors import PayloadValidationError
from prefect_gmicloud.models.spec import ModelSpec

MAX_URL_LENGTH = 2048
SEED_MAX = 2_147_483_647


def _check_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http(s) URL")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain white space")
    return value


#: An http(s) URL, kept exactly as given (no normalisation, so the payload is what was asked).
MediaURL = Annotated[str, Field(max_length=MAX_URL_LENGTH), AfterValidator(_check_url)]


def holds_media_url(annotation: Any) -> bool:
    """Whether a field's type is, or contains (optional, list, union), :data:`MediaURL`."""
    if typing.get_origin(annotation) is Annotated and _is_media_check(annotation.__metadata__):
        return True
    return any(holds_media_url(arg) for arg in typing.get_args(annotation))


def _is_media_check(metadata: Iterable[object]) -> bool:
    return any(isinstance(item, AfterValidator) and item.func is _check_url for item in metadata)


@dataclass(frozen=True)
class WholeSeconds:
    """Metadata for a length in whole seconds, an int or a string of one, from ``low`` up to
    ``high`` (unbounded when ``None``).

    For fields whose page gives the range but not the JSON type: ``5`` and ``"5"`` are both
    accepted and sent as given. The JSON schema states the range (``minimum``/``maximum``),
    which estimates read. Use it as ``Annotated[int | str, WholeSeconds(3, 15)]``.

    Attributes:
        low: The shortest length accepted.
        high: The longest length accepted, if published.
    """

    low: int
    high: int | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        found: dict[str, Any] = handler(schema) | {"minimum": self.low}
        return found if self.high is None else found | {"maximum": self.high}

    def _check(self, value: int | str) -> int | str:
        digits = isinstance(value, str) and value.strip().isdigit()
        number = int(value) if digits or type(value) is int else None
        too_long = self.high is not None and number is not None and number > self.high
        if number is None or number < self.low or too_long:
            span = f"{self.low}–{self.high}" if self.high is not None else f"at least {self.low}"
            raise ValueError(f"must be {span} whole seconds (a number or a string of one)")
        return value


def _check_number(value: float | str) -> float | str:
    if isinstance(value, bool) or (
        isinstance(value, str) and not re.fullmatch(r"-?\d+(\.\d+)?", value.strip())
    ):
        raise ValueError("must be a number or a string of one")
    return value


#: A number, or a string of one (``1``, ``1.5``, ``"1"``), sent as given: for fields whose
#: published type and example disagree (a table says float, the example sends ``"1"``).
NumberOrText = Annotated[int | float | str, AfterValidator(_check_number)]

Prompt = Annotated[str, Field(max_length=1500)]
NegativePrompt = Annotated[str, Field(max_length=500)]
Seed = Annotated[int, Field(ge=0, le=SEED_MAX)]
Resolution = Literal["720P", "1080P"]
Ratio = Literal["16:9", "9:16", "1:1", "4:3", "3:4"]
ShotType = Literal["single", "multi"]
Wan26Size = Literal[
    "1280*720",
    "720*1280",
    "960*960",
    "1088*832",
    "832*1088",
    "1920*1080",
    "1080*1920",
    "1440*1440",
    "1632*1248",
    "1248*1632",
]


@dataclass(frozen=True)
class ReferenceList:
    """A payload field listing reference media, and how its prompt names the n-th of them.

    Storyboards put each character a prompt names into the first of a model's reference lists
    whose ``kind`` the character has, and write it in the prompt as ``label.format(n=...)``.
    """

    field: str
    kind: Literal["video", "image"]
    label: str


class GMIPayload(BaseModel):
    """A typed payload for one model id; validates every documented limit locally.

    Fields left ``None`` are not sent, so the server applies its own defaults. Unknown fields are
    refused (a typo would otherwise be silently ignored by a paid request); use
    :class:`RawPayload` to send something this package does not know.

    ``spec`` says the rest of what the model is (:class:`~prefect_gmicloud.models.spec.ModelSpec`:
    what it makes, its outcome's shape, its reference files, its sound, how its seconds count).

    A class that sets ``storyboard_references`` can render storyboard shots: its other fields
    (all but ``prompt`` and the reference lists) become the settings a shot may set, with their
    types and limits. An empty tuple makes a model without characters (text to video).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)

    model_id: ClassVar[str]
    spec: ClassVar[ModelSpec]
    #: How storyboard characters are passed, in order of preference; None: not for storyboards.
    storyboard_references: ClassVar[tuple[ReferenceList, ...] | None] = None
    #: The field holding the image a video starts from, if the model takes one: a storyboard
    #: shot that continues another gets that shot's last frame there.
    storyboard_first_frame: ClassVar[str | None] = None

    @classmethod
    def media_fields(cls) -> frozenset[str]:
        """The fields that hold media URLs (alone or in a list): what GMI downloads."""
        return frozenset(
            name
            for name, info in cls.model_fields.items()
            if _is_media_check(info.metadata) or holds_media_url(info.annotation)
        )

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self:
        """Validate a plain dict, raising :class:`PayloadValidationError` naming each problem."""
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            raise PayloadValidationError(cls.model_id, describe_errors(exc)) from None

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.to_payload():
            raise ValueError("payload: empty, and the API refuses an empty payload (400)")
        return self

    def to_payload(self) -> dict[str, Any]:
        """The JSON body's ``payload``: only the fields that were set."""
        return self.model_dump(mode="json", exclude_none=True)

    def asked_seconds(self) -> float | None:
        """The seconds of output this payload asks for: 0 for a still, ``None`` when unset."""
        rule = self.spec.seconds
        return 0.0 if rule is None else rule.asked(self.to_payload())

    @classmethod
    def unset_seconds(cls) -> float | None:
        """The seconds counted for a payload that sets no length: the model's published
        default, else the longest it accepts; ``None`` when neither is known."""
        rule = cls.spec.seconds
        if rule is None:
            return 0.0
        return rule.default if rule.default is not None else rule.longest(cls.model_json_schema())

    def media_urls(self) -> list[tuple[str, str]]:
        """Each ``(field, url)`` of the media this payload names; list items as ``field[i]``."""
        found: list[tuple[str, str]] = []
        for name in sorted(self.media_fields()):
            value = getattr(self, name)
            if isinstance(value, list):
                found += [(f"{name}[{i}]", url) for i, url in enumerate(value)]
            elif isinstance(value, str):
                found.append((name, value))
        return found


class RawPayload(BaseModel):
    """A payload sent exactly as given, checked by nothing: the explicit escape hatch.

    What it costs: no typed limit and no served parameter looks at it, so a misspelt or
    unsupported field is paid for and silently ignored by GMI (it answers 200 to fields a model
    ignores). Use it only for a field GMI takes but neither a typed spec nor ``GET
    /models/{id}`` knows yet.
    """

    model_config = ConfigDict(frozen=True)

    model_id: str = Field(min_length=1)
    data: dict[str, Any] = Field(min_length=1, description="The API refuses an empty one.")

    def to_payload(self) -> dict[str, Any]:
        """The payload, as given."""
        return dict(self.data)


def check_mentions(prompt: str | None, word: str, available: int, field: str) -> None:
    """Refuse a prompt naming ``<word>N`` when only ``available`` references were given."""
    if not prompt:
        return
    for match in re.finditer(rf"\b{word}(\d+)\b", prompt):
        number = int(match.group(1))
        if number < 1 or number > available:
            raise ValueError(
                f"prompt mentions {match.group(0)} but {field} has {available} item(s)"
            )


def describe_errors(exc: ValidationError) -> list[str]:
    """One ``"field: limit, got …"`` line per pydantic error."""
    return [_describe(error) for error in exc.errors(include_url=False)]


def _describe(error: Mapping[str, Any]) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "payload"
    kind = error["type"]
    ctx = error.get("ctx") or {}
    value: Any = error.get("input")
    if kind == "string_too_long":
        text = f"at most {ctx['max_length']} characters, got {len(value)}"
    elif kind == "string_too_short":
        text = f"at least {ctx['min_length']} characters, got {len(value)}"
    elif kind == "too_long":
        text = f"at most {ctx['max_length']} items, got {ctx.get('actual_length', '?')}"
    elif kind == "too_short":
        text = f"at least {ctx['min_length']} items, got {ctx.get('actual_length', '?')}"
    elif kind in ("literal_error", "enum"):
        text = f"must be one of {ctx['expected']}, got {_short(value)}"
    elif kind in ("less_than_equal", "greater_than_equal", "less_than", "greater_than"):
        bound = {"less_than_equal": "<=", "greater_than_equal": ">=", "less_than": "<"}.get(
            kind, ">"
        )
        limit = next(iter(ctx.values()))
        text = f"must be {bound} {limit}, got {_short(value)}"
    elif kind == "missing":
        text = "required"
    elif kind == "extra_forbidden":
        text = "unknown field (not in the documented payload; use RawPayload to send it anyway)"
    else:
        message = re.sub(r"^Value error, ", "", str(error["msg"]))
        if not error["loc"]:
            # A cross-field rule: its message names the fields itself.
            return message
        text = f"{message}, got {_short(value)}"
    return f"{field}: {text}"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
