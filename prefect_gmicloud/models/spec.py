"""What a model is, besides its payload fields: what it makes, how its answer reads, which of
its fields take files and what files, whether it makes sound, and how its seconds are counted.

Each payload class carries one :class:`ModelSpec` (``spec``), written in the model's own file
in :mod:`prefect_gmicloud.models.catalog`; the registry, the reference checks, the estimates and
budgets, and the simulator read it there, so a model is described in one place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: What a model makes.
OutputKind = Literal["video", "image", "audio"]
#: The kinds of file a payload field may name.
MediaKind = Literal["video", "image", "audio"]
#: How a finished request's ``outcome`` names its files: flat ``video_url`` (and
#: ``thumbnail_image_url``), a ``media_urls`` list, or ``audio_url`` with ``format``.
OutcomeShape = Literal["video_url", "media_urls", "audio_url"]
#: Whether a video has sound, for one payload: ``"source"`` means as much as the video it edits.
Sound = Literal["sound", "silent", "source"]

_NUMBER = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")


def silent(payload: Mapping[str, Any]) -> Sound:
    """The sound rule of a model whose output no page says has sound: silent (never invented).

    Args:
        payload: The request's payload (unused: the answer is the same for every payload).
    """
    return "silent"


@dataclass(frozen=True)
class ReferenceLimits:
    """What a model accepts in one payload field that names a file.

    Attributes:
        kind: The kind of media the field takes.
        containers: The formats accepted, as :func:`prefect_gmicloud.media.magic.sniff_container`
            names them; ``None`` when they are not published (any file of the kind passes).
        max_bytes: The largest file accepted, if limited.
        min_seconds: The shortest video or audio accepted, if limited.
        max_seconds: The longest video or audio accepted, if limited.
        min_pixels: The smallest width and height accepted, if limited.
        max_pixels: The largest width and height accepted, if limited.
    """

    kind: MediaKind
    containers: frozenset[str] | None = None
    max_bytes: int | None = None
    min_seconds: float | None = None
    max_seconds: float | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None


def read_number(value: object) -> float | None:
    """A non-negative number as a payload states it: a number, or a string of one (``"5"``).

    Args:
        value: The payload field's value.

    Returns:
        The number, or ``None`` for anything else (unset, a word, a boolean, a negative).

    Example:
        >>> read_number("8"), read_number(5), read_number(None), read_number(True)
        (8.0, 5.0, None, None)
    """
    if isinstance(value, bool):
        return None
    if not (isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.match(value))):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True)
class Seconds:
    """How a model's generated seconds are counted, for estimates and budgets.

    Attributes:
        field: The payload field holding the length (``"duration"``, Veo's
            ``"durationSeconds"``); ``None`` when no field sets it (speech lasts as long as its
            text takes to say).
        default: The seconds the model generates when the field is unset, where its page says;
            ``None`` counts such a request at the longest the field accepts.
    """

    field: str | None = "duration"
    default: float | None = None

    def asked(self, payload: Mapping[str, Any]) -> float | None:
        """The seconds ``payload`` asks for, read as an int, a float or a numeric string.

        Args:
            payload: The payload as sent.

        Returns:
            The seconds, or ``None`` when the field is unset (or there is none).
        """
        return None if self.field is None else read_number(payload.get(self.field))

    def longest(self, schema: Mapping[str, Any]) -> float | None:
        """The longest length the field accepts, from the payload class's JSON schema.

        Args:
            schema: ``model_json_schema()`` of the payload class.

        Returns:
            The largest ``maximum`` or enum value (numbers or numeric strings), or ``None``
            when the field is unbounded or absent.
        """
        if self.field is None:
            return None
        prop = schema.get("properties", {}).get(self.field, {})
        bounds: list[float] = []
        for option in _options(prop):
            if (most := read_number(option.get("maximum"))) is not None:
                bounds.append(most)
            values = [*option.get("enum", []), *([option["const"]] if "const" in option else [])]
            bounds += [s for value in values if (s := read_number(value)) is not None]
        return max(bounds) if bounds else None


def _options(prop: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A property's alternatives, flattened (``anyOf`` nests for optional unions)."""
    found: list[Mapping[str, Any]] = [prop]
    for option in prop.get("anyOf", []):
        found += _options(option)
    return found


@dataclass(frozen=True)
class ModelSpec:
    """Everything about a model that is not a payload field.

    Attributes:
        output: What the model makes: ``video``, ``image`` or ``audio``.
        outcome: How the finished request's ``outcome`` names its files (the client reads
            every shape; the simulator answers in this one).
        seconds: How its generated seconds are counted; ``None`` for a model that makes
            stills (no seconds at all).
        references: The limits of each field that names a file, by field (its kind at least;
            formats, sizes and lengths where published).
        sound: Whether a video made from a payload has sound.
        sync: Whether GMI answers it "sync-style": the submit's answer already reads
            ``success`` while the work goes on, and the outcome appears on a later read.
        source: Where the limits come from, for people (a docstring says the detail).
    """

    output: OutputKind
    outcome: OutcomeShape
    seconds: Seconds | None = field(default_factory=Seconds)
    references: Mapping[str, ReferenceLimits] = field(default_factory=dict)
    sound: Callable[[Mapping[str, Any]], Sound] = silent
    sync: bool = False
    source: str = ""
