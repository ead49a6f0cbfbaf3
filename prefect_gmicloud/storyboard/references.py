"""Where a storyboard's reference media come from, and the URLs a payload gets for them.

A reference (a character's video or image, a first or last frame, a video to edit) is one of:

- an ``http(s)://`` URL, sent as given;
- an ``s3://bucket/key`` object, sent as a presigned GET URL;
- a file path, relative to the storyboard file (or, in a flow parameter, to the worker's
  working directory), uploaded once to the run's storage under its sha256 and sent like an
  ``s3://`` object.

Planning needs a *stable* URL for each, because the hash of a shot's payload says whether it
was paid for already: a presigned URL changes with every signature. :class:`ReferenceURLs`
gives that stable URL; the signature is added just before the submit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Protocol
from urllib.parse import quote, urlsplit

from pydantic import AfterValidator, Field

MAX_REFERENCE_LENGTH = 2048

SourceKind = Literal["url", "s3", "file"]


def source_kind(reference: str) -> SourceKind:
    """Which of the three a reference is (it was validated as :data:`Reference`)."""
    scheme = urlsplit(reference).scheme if "://" in reference else ""
    if scheme in ("http", "https"):
        return "url"
    if scheme == "s3":
        return "s3"
    return "file"


def _check_reference(value: str) -> str:
    if "\x00" in value or not value.strip():
        raise ValueError("must be an http(s) URL, an s3://bucket/key or a file path")
    if "://" in value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "s3"):
            raise ValueError(
                f"must be an http(s) URL, an s3://bucket/key or a file path, got a "
                f"{parts.scheme}:// URL"
            )
        if not parts.netloc or (parts.scheme == "s3" and not parts.path.strip("/")):
            raise ValueError("must name a host (http) or a bucket and a key (s3://bucket/key)")
        if any(ch.isspace() for ch in value):
            raise ValueError("a URL must not contain white space")
    return value


#: A reference: an http(s) URL, an ``s3://bucket/key``, or a file path.
Reference = Annotated[str, Field(max_length=MAX_REFERENCE_LENGTH), AfterValidator(_check_reference)]


@dataclass(frozen=True)
class S3Object:
    """An object named by an ``s3://`` reference."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, reference: str) -> S3Object:
        parts = urlsplit(reference)
        return cls(parts.netloc, parts.path.lstrip("/"))


def resolve_path(reference: str, folder: Path) -> str:
    """A file reference made absolute against ``folder``; URLs and absolute paths unchanged."""
    if source_kind(reference) != "file":
        return reference
    path = Path(reference).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())


class ReferenceURLs(Protocol):
    """The stable URL of each reference and of each continuity frame, for planning."""

    def url(self, reference: str) -> str:
        """The URL that stands for ``reference`` in a payload (signed only when sent)."""
        ...

    def frame_url(self, shot_inputs_hash: str) -> str:
        """Where the last frame of the shot with these inputs is staged."""
        ...

    def still_url(self, still_inputs_hash: str) -> str:
        """Where the still the board makes with these inputs is staged for shots using it."""
        ...


class PlaceholderURLs:
    """URLs for checking a storyboard without storage: stored media get ``.invalid`` URLs.

    Enough to validate every payload (the shapes and limits), not to send one.
    """

    def url(self, reference: str) -> str:
        if source_kind(reference) == "url":
            return reference
        return f"https://staged.invalid/{quote(reference.lstrip('/'), safe='/')}"

    def frame_url(self, shot_inputs_hash: str) -> str:
        return f"https://staged.invalid/frames/{shot_inputs_hash}-last.png"

    def still_url(self, still_inputs_hash: str) -> str:
        return f"https://staged.invalid/stills/{still_inputs_hash}.png"


def map_references(value: object, convert: Callable[[str], str]) -> object:
    """``value`` (a reference or a list of them) with each reference converted."""
    if isinstance(value, str):
        return convert(value)
    if isinstance(value, list):
        return [convert(item) if isinstance(item, str) else item for item in value]
    return value


def each_reference(value: object) -> Iterator[str]:
    """The references in ``value`` (a reference or a list of them)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        yield from (item for item in value if isinstance(item, str))
