"""What a media file is: its kind, container, size, length and picture size.

The container comes from the file's first bytes (:mod:`prefect_gmicloud.media.magic`); PyAV then
reads only the headers (and, for formats without an index, the first packets), so probing a
100 MB video takes milliseconds. A file that is not media, or media FFmpeg cannot read, gets
``kind=None``: probing never fails because of what a file holds, only when it cannot be read or
is not a regular file of bounded size (a device, FIFO or folder is refused before it is read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import av
from av.container import InputContainer
from av.stream import Stream
from av.video.stream import VideoStream

from prefect_gmicloud.media.local_files import MAX_FILE_BYTES, open_bounded
from prefect_gmicloud.media.magic import (
    AUDIO_CONTAINERS,
    HEAD_BYTES,
    IMAGE_CONTAINERS,
    VIDEO_CONTAINERS,
    sniff_container,
)

MediaKind = Literal["video", "image", "audio"]

_ATTACHED_PIC = av.stream.Disposition.attached_pic


@dataclass(frozen=True)
class MediaFacts:
    """What :func:`probe_media` found out about a file.

    Attributes:
        kind: ``"video"``, ``"image"`` or ``"audio"``; ``None`` when the file is not media that
            FFmpeg can read (text, an error page, a truncated or corrupt file).
        container: The format named by the file's first bytes (``mp4``, ``mov``, ``matroska``,
            ``jpeg``, ``png``, ``bmp``, ``webp``, ``gif``, ``wav``, ``mp3``...), or ``None``.
        size: The file's size in bytes.
        duration: Seconds, for videos and audio whose length the headers give.
        width: Pixels, for videos and images.
        height: Pixels, for videos and images.
    """

    kind: MediaKind | None
    container: str | None
    size: int
    duration: float | None = None
    width: int | None = None
    height: int | None = None


def probe_media(path: Path, max_bytes: int = MAX_FILE_BYTES) -> MediaFacts:
    """Find out what kind of media ``path`` holds, from its first bytes and headers.

    Args:
        path: A local file.
        max_bytes: The largest file probed.

    Returns:
        The facts; ``kind`` is ``None`` for anything that is not readable video, image or audio.

    Raises:
        RefusedFile: it is not a regular file (a device, FIFO, folder) or is larger than
            ``max_bytes``; nothing was read.
        OSError: when the file cannot be read (``FileNotFoundError`` when it is absent).

    Example:
        ```python
        facts = probe_media(Path("examples/production/media/barista.mp4"))
        facts.kind, facts.container, facts.duration, facts.width  # ("video", "mp4", 2.5, 480)
        ```
    """
    with open_bounded(path, max_bytes) as file:
        size = os.fstat(file.fileno()).st_size
        container = sniff_container(file.read(HEAD_BYTES))
        if container is None:
            return MediaFacts(kind=None, container=None, size=size)
        file.seek(0)
        try:
            # FFmpeg reads the file that was checked, not whatever the path names by now.
            return _read_streams(file, container, size)
        except av.FFmpegError:
            # The file opened, so FFmpeg's complaint is about what it holds.
            return MediaFacts(kind=None, container=container, size=size)


def _read_streams(file: BinaryIO, container: str, size: int) -> MediaFacts:
    with av.open(file, "r", metadata_errors="replace") as opened:
        # A cover picture in an MP3 or MP4 is a "video" stream flagged as an attached picture.
        videos = [s for s in opened.streams.video if not s.disposition & _ATTACHED_PIC]
        # FFmpeg learns a picture's size by decoding its first frame: without one, the
        # pictures cannot be decoded.
        pictures = [s for s in videos if s.codec_context.width and s.codec_context.height]
        if container in IMAGE_CONTAINERS and pictures:
            width, height = _picture_size(pictures[0])
            return MediaFacts("image", container, size, width=width, height=height)
        if container in VIDEO_CONTAINERS and pictures:
            width, height = _picture_size(pictures[0])
            duration = _seconds(pictures[0]) or _container_seconds(opened)
            return MediaFacts("video", container, size, duration, width, height)
        has_sound = container in VIDEO_CONTAINERS or container in AUDIO_CONTAINERS
        if has_sound and not videos and opened.streams.audio:
            duration = _seconds(opened.streams.audio[0]) or _container_seconds(opened)
            return MediaFacts("audio", container, size, duration)
    return MediaFacts(kind=None, container=container, size=size)


def _picture_size(stream: VideoStream) -> tuple[int, int]:
    return int(stream.codec_context.width), int(stream.codec_context.height)


def _seconds(stream: Stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    return float(stream.duration * stream.time_base)


def _container_seconds(opened: InputContainer) -> float | None:
    if opened.duration is None:
        return None
    return float(opened.duration / av.time_base)
