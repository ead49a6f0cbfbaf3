"""Records the API returns: requests, statuses, outcomes as media assets, model descriptions.

The records are tolerant by design: unknown fields are kept, unknown statuses are kept as plain
strings (and count as still running), and every outcome shape seen in the wild is read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator


class RequestStatus(StrEnum):
    """The statuses documented or observed; ``status`` may also hold strings not listed here."""

    CREATED = "created"
    DISPATCHED = "dispatched"
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = frozenset(
    {RequestStatus.SUCCESS, RequestStatus.FAILED, RequestStatus.CANCELLED}
)

#: What an outcome file is, from its field or its URL ("other" when neither tells).
AssetKind = Literal["video", "image", "audio", "other"]

_EXTENSION_KINDS: dict[str, AssetKind] = {
    ".mp4": "video",
    ".mov": "video",
    ".webm": "video",
    ".mkv": "video",
    ".jpg": "image",
    ".jpeg": "image",
    ".png": "image",
    ".webp": "image",
    ".gif": "image",
    ".mp3": "audio",
    ".wav": "audio",
    ".ogg": "audio",
    ".flac": "audio",
    ".m4a": "audio",
}

# Outcome keys that hold a URL, with what they hold. "thumbnail" comes before "image" on purpose.
_FLAT_OUTCOME_KEYS: dict[str, tuple[str, AssetKind]] = {
    "video_url": ("video", "video"),
    "thumbnail_image_url": ("thumbnail", "image"),
    "thumbnail_url": ("thumbnail", "image"),
    "image_url": ("image", "image"),
    "audio_url": ("audio", "audio"),
}

_FAILURE_REASON_KEYS = (
    "error_message", "error", "fail_reason", "failure_reason", "reason", "message", "msg",
)  # fmt: skip
#: A failure reason is shown in logs, manifests and errors: a runaway one is cut here.
MAX_FAILURE_REASON = 500


def _reason_text(value: Any) -> str | None:
    """Words from a reason in any shape seen: text, ``{code, msg|message|details}``, a list."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        parts = [text for item in value if (text := _reason_text(item))]
        return "; ".join(parts) or None
    if isinstance(value, dict):
        words = next(
            (
                t
                for k in ("message", "msg", "details", "reason")
                if (t := _reason_text(value.get(k)))
            ),
            None,
        )
        code = value.get("code")
        if words and code not in (None, ""):
            return f"{code}: {words}"
        return words or (str(code) if code not in (None, "") else None)
    return None


class MediaAsset(BaseModel):
    """One file a finished request produced.

    Attributes:
        url: where to download it (public storage; never send the API key there).
        kind: video, image, audio or other, from the outcome key or the URL's extension.
        role: what it is in the outcome: ``video``, ``thumbnail``, ``image``, ``audio`` or
            ``media`` (an entry of a ``media_urls`` list).
        id: the entry's id in a ``media_urls`` list, when there is one.
    """

    model_config = ConfigDict(frozen=True)

    url: str
    kind: AssetKind
    role: str
    id: str | None = None

    @property
    def filename(self) -> str:
        """The last path segment of the URL (may be empty)."""
        return PurePosixPath(urlsplit(self.url).path).name


def _kind_from_url(url: str) -> AssetKind:
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return _EXTENSION_KINDS.get(suffix, "other")


def assets_from_outcome(outcome: dict[str, Any] | None) -> list[MediaAsset]:
    """Read every outcome shape into a uniform list: flat keys, ``media_urls``, ``audio_url``."""
    if not outcome:
        return []
    assets: list[MediaAsset] = []
    for key, (role, kind) in _FLAT_OUTCOME_KEYS.items():
        url = outcome.get(key)
        if isinstance(url, str) and url:
            assets.append(MediaAsset(url=url, kind=kind, role=role))
    media = outcome.get("media_urls")
    if isinstance(media, list):
        for index, entry in enumerate(media):
            if isinstance(entry, str):
                url, entry_id = entry, str(index)
            elif isinstance(entry, dict) and isinstance(entry.get("url"), str):
                url, entry_id = entry["url"], str(entry.get("id", index))
            else:
                continue
            assets.append(MediaAsset(url=url, kind=_kind_from_url(url), role="media", id=entry_id))
    return assets


class GMIRequest(BaseModel):
    """A request on the queue, as the API reports it.

    ``status`` is a :class:`RequestStatus` when the API sent a known value and the raw string
    otherwise; unknown statuses are never terminal. Fields the API adds are kept (``extra``).
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    request_id: str
    model: str = ""
    status: RequestStatus | str
    org_id: str | None = None
    is_public: bool | None = None
    payload: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    queued_at: datetime | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _known_status(cls, value: object) -> RequestStatus | str:
        text = str(value or "").strip().lower()
        try:
            return RequestStatus(text)
        except ValueError:
            return text

    @property
    def is_terminal(self) -> bool:
        """True for success, failed and cancelled; unknown statuses are still running."""
        return self.status in TERMINAL_STATUSES

    @property
    def is_known_status(self) -> bool:
        """False when the API sent a status this client does not know."""
        return isinstance(self.status, RequestStatus)

    @property
    def assets(self) -> list[MediaAsset]:
        """Every file of the outcome, whatever shape the model uses."""
        return assets_from_outcome(self.outcome)

    @property
    def video(self) -> MediaAsset | None:
        """The first video asset, if any."""
        return next((a for a in self.assets if a.kind == "video"), None)

    @property
    def thumbnail(self) -> MediaAsset | None:
        """The thumbnail (or, failing that, the first image asset), if any."""
        assets = self.assets
        return next((a for a in assets if a.role == "thumbnail"), None) or next(
            (a for a in assets if a.kind == "image"), None
        )

    @property
    def failure_reason(self) -> str | None:
        """The reason of a failure, from whichever field the API used (none is documented)."""
        extra = self.model_extra or {}
        places: list[dict[str, Any]] = [extra, self.outcome or {}]
        for place in places:
            for key in _FAILURE_REASON_KEYS:
                text = _reason_text(place.get(key))
                if text:
                    cut = text[:MAX_FAILURE_REASON]
                    return cut if cut == text else cut + f"... ({len(text)} characters)"
        return None


class RequestList(BaseModel):
    """One answer of ``GET /requests``: the records it holds, and whether that is all of them.

    Attributes:
        requests: the records in the body.
        partial: why the body shows only part of the list (a ``total`` above the records
            held, a next-page marker, a full page); ``None`` when nothing says so.
    """

    model_config = ConfigDict(frozen=True)

    requests: list[GMIRequest]
    partial: str | None = None


class ModelSummary(BaseModel):
    """A model the key may use, as ``GET /models`` lists it (ids only: see ``get_model``).

    Attributes:
        id: the model id, as submits name it.
        has_schema: whether this package validates its payloads (a payload class exists);
            other models are passed through unvalidated.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    has_schema: bool = False

    def __str__(self) -> str:
        return self.id


class ModelParameter(BaseModel):
    """One parameter of a model, as ``GET /models/{id}`` describes it."""

    model_config = ConfigDict(extra="allow")

    name: str
    display_name: str | None = None
    description: str | None = None
    type: str | None = None
    required: bool = False


class ModelInfo(BaseModel):
    """A model's description from ``GET /models/{id}``."""

    model_config = ConfigDict(extra="allow")

    model: str
    brief_description: str | None = None
    modalities: Any = None
    parameters: list[ModelParameter] = Field(default_factory=list)
