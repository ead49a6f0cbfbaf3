"""Fetching a request's reference media, as GMI's workers must before they can render.

A real request names its inputs by URL (character videos and images, first and last frames, a
video to edit, audio), often presigned links to the caller's own storage. The service accepts
the request, then its worker downloads every reference; a link that answers 403 or 404, or not
at all, fails the request. The simulator does the same, so a storyboard that hands out broken
or expired links fails here as it would there.

Fetches never carry credentials: a reference lives on another host than the API, so no
``Authorization`` header, no cookies and no ``.netrc`` entry is ever sent (the client ignores
the environment).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from prefect_gmicloud.models.registry import PAYLOAD_MODELS

#: The payload fields that hold reference media for a model without a typed spec, in the
#: order failures are reported; a typed model's come from its spec (:func:`media_fields`).
MEDIA_FIELDS = (
    "first_frame",
    "last_frame",
    "img_url",
    "reference_image",
    "reference_video",
    "reference_video_urls",
    "video",
    "first_clip",
    "audio_url",
    "driving_audio",
)
#: Fields whose image becomes the first frame of the output (``img_url``: wan2.6-i2v).
FIRST_FRAME_FIELDS = ("first_frame", "img_url")

#: RFC 2606 names reserved for documentation: ``example.com/.net/.org`` and the TLDs below.
_PLACEHOLDER_DOMAINS = ("example.com", "example.net", "example.org")
_PLACEHOLDER_TLDS = ("example", "invalid", "test")

_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": ".png",
    b"\xff\xd8\xff": ".jpg",
    b"GIF87a": ".gif",
    b"GIF89a": ".gif",
    b"BM": ".bmp",
}


def is_placeholder(url: str) -> bool:
    """Whether ``url``'s host is reserved for documentation (RFC 2606), so it is not fetched.

    ``example.com``, ``example.net``, ``example.org`` (and their subdomains) and any name under
    the ``.example``, ``.invalid`` and ``.test`` top-level domains can never be real storage:
    docs, examples and tests use them as placeholders, and the simulator accepts them without
    a download (the output then shows a test pattern).

    Args:
        url: A reference URL from a payload.
    """
    host = (httpx.URL(url).host or "").rstrip(".").lower()
    if any(host == domain or host.endswith(f".{domain}") for domain in _PLACEHOLDER_DOMAINS):
        return True
    return host.rsplit(".", 1)[-1] in _PLACEHOLDER_TLDS


def media_fields(model: str | None) -> tuple[str, ...]:
    """The fields a model's worker downloads: a typed model's reference fields (its spec's,
    and every field of its payload class holding a URL), else :data:`MEDIA_FIELDS`.

    Args:
        model: The model id, if known.
    """
    payload_class = PAYLOAD_MODELS.get(model or "")
    if payload_class is None:
        return MEDIA_FIELDS
    typed = {*payload_class.spec.references, *payload_class.media_fields()}
    # Failures are reported in one order whatever the family: the Wan names first.
    return (*(f for f in MEDIA_FIELDS if f in typed), *sorted(typed - set(MEDIA_FIELDS)))


def first_frame_fields(model: str | None) -> tuple[str, ...]:
    """The fields whose image opens the output: the model's declared first frame, else
    :data:`FIRST_FRAME_FIELDS`.

    Args:
        model: The model id, if known.
    """
    payload_class = PAYLOAD_MODELS.get(model or "")
    declared = payload_class.storyboard_first_frame if payload_class is not None else None
    return (declared,) if declared else FIRST_FRAME_FIELDS


def reference_urls(payload: dict[str, Any], model: str | None = None) -> list[tuple[str, str]]:
    """Every http(s) reference in ``payload`` as ``(label, url)``; lists label each item.

    Labels name the field as an error should: ``first_frame``, ``reference_video[0]``.

    Args:
        payload: A request's payload as submitted.
        model: The model asked for: its spec says which fields hold references (Kling's
            ``image``, MiniMax's ``first_frame_image``...); the Wan names when unknown.
    """
    found: list[tuple[str, str]] = []
    for name in media_fields(model):
        value = payload.get(name)
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, url in items:
            if isinstance(url, str) and re.match(r"(?i)https?://", url):
                found.append((name if index is None else f"{name}[{index}]", url))
    return found


def without_query(url: str) -> str:
    """``url`` without its query string or fragment: presigned links to one object count as one.

    Args:
        url: A reference URL.
    """
    return str(httpx.URL(url).copy_with(query=None, fragment=None))


def image_suffix(head: bytes) -> str | None:
    """The file suffix of an image starting with ``head`` (PNG, JPEG, GIF, BMP, WebP), or None.

    Args:
        head: The first bytes of a file (16 are enough).
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return next((suffix for magic, suffix in _IMAGE_MAGIC.items() if head.startswith(magic)), None)


class _ReferenceFetchError(Exception):
    """One or more references could not be fetched; the message names each field and why."""


@dataclass(frozen=True)
class SourceVideo:
    """What the simulator could tell of a fetched video: its length and whether it has sound."""

    seconds: float
    has_audio: bool


@dataclass(frozen=True)
class FetchedMedia:
    """The fetched references a render uses: first and last frame images, the video to edit."""

    first_frame: Path | None = None
    last_frame: Path | None = None
    source_video: SourceVideo | None = None


class ReferenceFetcher:
    """Downloads references with limits, keeping the few files a render needs.

    Args:
        store: Where fetched images and videos are kept, named by their sha256.
        counts: Fetches per URL without its query string (the simulator's counter).
        timeout: Seconds one reference may take in all, connecting included.
        max_bytes: The largest reference accepted.
        ffmpeg: The ffmpeg executable, to probe a fetched video.
    """

    def __init__(
        self,
        store: Path,
        counts: Counter[str],
        *,
        timeout: float,
        max_bytes: int,
        ffmpeg: str,
    ) -> None:
        self.store = store
        self.counts = counts
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.ffmpeg = ffmpeg

    async def fetch_all(self, payload: dict[str, Any], model: str | None = None) -> FetchedMedia:
        """Fetch every reference of ``payload`` that is not a placeholder, all at once.

        Raises:
            _ReferenceFetchError: naming every reference that failed, e.g.
                ``reference_video[0] could not be fetched: HTTP 403``.

        Args:
            payload: A request's payload as submitted.
            model: The model asked for (its spec names its reference fields).
        """
        wanted = [
            (label, url) for label, url in reference_urls(payload, model) if not is_placeholder(url)
        ]
        firsts = first_frame_fields(model)
        kept_fields = {*firsts, "last_frame", "video"}
        if not wanted:
            return FetchedMedia()
        async with httpx.AsyncClient(
            trust_env=False,  # no proxy settings, no .netrc credentials
            follow_redirects=True,
            max_redirects=5,
            timeout=self.timeout,
        ) as http:
            results = await asyncio.gather(
                *(self._fetch(http, label, url, label in kept_fields) for label, url in wanted),
                return_exceptions=True,
            )
        problems = [str(r) for r in results if isinstance(r, _ReferenceFetchError)]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, _ReferenceFetchError):
                raise result
        if problems:
            raise _ReferenceFetchError("; ".join(problems))
        kept = {
            label: path
            for (label, _), path in zip(wanted, results, strict=True)
            if isinstance(path, Path)
        }
        images = {label: path for label, path in kept.items() if path.suffix != ".bin"}
        video = kept.get("video")
        return FetchedMedia(
            first_frame=next((images[f] for f in firsts if f in images), None),
            last_frame=images.get("last_frame"),
            source_video=await asyncio.to_thread(self._probe, video) if video else None,
        )

    async def _fetch(
        self, http: httpx.AsyncClient, label: str, url: str, keep: bool
    ) -> Path | None:
        self.counts[without_query(url)] += 1
        try:
            async with asyncio.timeout(self.timeout):
                return await self._download(http, label, url, keep)
        except (TimeoutError, httpx.TimeoutException):
            reason = f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__} ({exc})" if str(exc) else type(exc).__name__
        raise _ReferenceFetchError(f"{label} could not be fetched: {reason}")

    async def _download(
        self, http: httpx.AsyncClient, label: str, url: str, keep: bool
    ) -> Path | None:
        limit = f"more than the {self.max_bytes} bytes a reference may have"
        async with http.stream("GET", url) as response:
            if not response.is_success:
                raise _ReferenceFetchError(
                    f"{label} could not be fetched: HTTP {response.status_code}"
                )
            announced = response.headers.get("content-length", "")
            if announced.isdigit() and int(announced) > self.max_bytes:
                raise _ReferenceFetchError(f"{label} could not be fetched: {limit}")
            parts: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.max_bytes:
                    raise _ReferenceFetchError(f"{label} could not be fetched: {limit}")
                if keep:
                    parts.append(chunk)
        return await asyncio.to_thread(self._keep, b"".join(parts)) if keep else None

    def _keep(self, data: bytes) -> Path:
        """Store ``data`` under its hash, with an image's suffix (``.bin`` for anything else)."""
        name = f"ref-{hashlib.sha256(data).hexdigest()[:24]}{image_suffix(data[:16]) or '.bin'}"
        path = self.store / name
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.store, suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)
            finally:
                Path(tmp).unlink(missing_ok=True)
        return path

    def _probe(self, path: Path) -> SourceVideo | None:
        """The length and sound of a fetched video, from ffmpeg's report; ``None`` if unreadable."""
        report = subprocess.run(
            [self.ffmpeg, "-hide_banner", "-i", str(path)],
            capture_output=True,
            text=True,
            check=False,
        ).stderr
        match = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", report)
        if match is None or not re.search(r"Stream #\S+.*: Video:", report):
            return None
        hours, minutes, seconds = match.groups()
        total = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        audio = re.search(r"Stream #\S+.*: Audio:", report) is not None
        return SourceVideo(seconds=total, has_audio=audio)
