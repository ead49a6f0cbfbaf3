"""Is a downloaded file what it claims? Checked before anything is marked stored.

Result URLs are public storage links; when they expire or break, some hosts answer 200 with an
HTML or JSON error page. Stored as ``video.mp4`` that page would be reused by every later run,
so a video must be a media container with a video stream of about the asked length, and a
thumbnail an image.
"""

from __future__ import annotations

from pathlib import Path

from prefect_gmicloud.errors import ContentMismatchError
from prefect_gmicloud.media.magic import (
    IMAGE_CONTAINERS,
    VIDEO_CONTAINERS,
    read_head,
    sniff_container,
)
from prefect_gmicloud.media.probe import probe_media

#: How far a video's length may be from the asked duration: encoders round to whole frames and
#: GOPs, and the service may add or trim a fraction of a second.
DURATION_TOLERANCE = (1.0, 0.2)  # seconds, or this fraction of the asked duration if larger


def _describe(head: bytes) -> str:
    text = head.lstrip()[:24]
    if not text:
        return "an empty file"
    if text[:1] in (b"<", b"{", b"["):
        return f"text starting {text.decode('utf-8', 'replace')!r} (an error page?)"
    return f"bytes starting {head[:8].hex()}"


def is_media_container(head: bytes) -> bool:
    """A video container (MP4/MOV, Matroska/WebM, AVI...) by its first bytes."""
    return sniff_container(head) in VIDEO_CONTAINERS


def is_image(head: bytes) -> bool:
    """JPEG, PNG, GIF, BMP or WEBP by their magic numbers."""
    return sniff_container(head) in IMAGE_CONTAINERS


def verify_video(path: Path, expected_seconds: float | None, source: str) -> float:
    """Check ``path`` is a video of about ``expected_seconds``; return its duration.

    Raises:
        ContentMismatchError: naming ``source`` (the request) and what the file is instead.
    """
    head = read_head(path)
    if not is_media_container(head):
        raise ContentMismatchError(f"{source}: the video is not a video file but {_describe(head)}")
    # The headers, read in this process (an ffmpeg process per file cost ~20 ms of CPU).
    facts = probe_media(path)
    if facts.kind != "video":
        raise ContentMismatchError(f"{source}: the video file has no video stream")
    duration = facts.duration
    if duration is None:
        raise ContentMismatchError(f"{source}: the video file does not say how long it is")
    if expected_seconds is not None:
        allowed = max(DURATION_TOLERANCE[0], DURATION_TOLERANCE[1] * expected_seconds)
        if abs(duration - expected_seconds) > allowed:
            raise ContentMismatchError(
                f"{source}: the video lasts {duration:.2f}s, {expected_seconds:g}s were asked "
                f"(tolerance {allowed:.1f}s)"
            )
    return duration


def verify_image(path: Path, source: str) -> None:
    """Check ``path`` is an image.

    Raises:
        ContentMismatchError: naming ``source`` and what the file is instead.
    """
    head = read_head(path)
    if not is_image(head):
        raise ContentMismatchError(f"{source}: the image is not an image but {_describe(head)}")
