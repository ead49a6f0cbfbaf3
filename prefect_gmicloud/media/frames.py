"""Single frames of a video as PNG files, and how different two pictures are.

A shot that continues another starts from that shot's last frame; :func:`last_frame` takes it
without decoding the whole video (it seeks to the last second's keyframe first).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from fractions import Fraction
from pathlib import Path

import av
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from prefect_gmicloud.errors import MediaError

#: How far before the end :func:`last_frame` seeks; the decoder then starts at the keyframe
#: before that point and runs to the end.
_TAIL_SECONDS = 1.0


def first_frame(video: Path, out: Path) -> Path:
    """Write the first frame of ``video`` to ``out`` as a PNG.

    Args:
        video: A video file (MP4, MOV, Matroska...).
        out: Where to write the PNG; its folder must exist.

    Returns:
        ``out``.

    Raises:
        MediaError: when ``video`` has no decodable video frame.
    """
    with _open_video(video) as (container, stream):
        frame = next(container.decode(stream), None)
    if frame is None:
        raise MediaError(f"{video.name}: no decodable video frame")
    return _write_png(frame, out)


def last_frame(video: Path, out: Path) -> Path:
    """Write the last decodable frame of ``video`` to ``out`` as a PNG.

    Args:
        video: A video file (MP4, MOV, Matroska...).
        out: Where to write the PNG; its folder must exist.

    Returns:
        ``out``.

    Raises:
        MediaError: when ``video`` has no decodable video frame.

    Example:
        ```python
        start = last_frame(Path("out/shots/intro.mp4"), Path("out/intro-last.png"))
        ```
    """
    with _open_video(video) as (container, stream):
        frame = _last_decoded(container, stream, _seek_target(container, stream))
        if frame is None:  # the seek landed past every frame the decoder can return
            frame = _last_decoded(container, stream, 0)
    if frame is None:
        raise MediaError(f"{video.name}: no decodable video frame")
    return _write_png(frame, out)


def frame_difference(a: Path, b: Path) -> float:
    """The mean absolute difference of two images' RGB values, from 0 (same) to 255.

    Both are scaled to the smaller width and the smaller height of the two first, so a frame
    and a re-encoded or resized copy of it compare as nearly equal.

    Args:
        a: An image file (PNG, JPEG, BMP, WEBP...) or a video (its first frame is used).
        b: Another one.
    """
    frame_a, frame_b = _picture(a), _picture(b)
    width, height = min(frame_a.width, frame_b.width), min(frame_a.height, frame_b.height)
    rows_a = _rgb_rows(frame_a, width, height)
    rows_b = _rgb_rows(frame_b, width, height)
    total = sum(abs(x - y) for row_a, row_b in zip(rows_a, rows_b, strict=True)
                for x, y in zip(row_a, row_b, strict=True))  # fmt: skip
    return total / (width * height * 3)


@contextmanager
def _open_video(path: Path) -> Iterator[tuple[InputContainer, VideoStream]]:
    try:
        container = av.open(str(path), metadata_errors="replace")
    except av.FFmpegError as exc:
        raise MediaError(f"{path.name}: not a readable video or picture ({exc})") from exc
    with container:
        if not container.streams.video:
            raise MediaError(f"{path.name}: no video stream")
        yield container, container.streams.video[0]


def _seek_target(container: InputContainer, stream: VideoStream) -> int:
    """A timestamp (in the stream's time base) ``_TAIL_SECONDS`` before the end, or 0."""
    if stream.duration is not None and stream.time_base is not None:
        end = Fraction(stream.start_time or 0) + Fraction(stream.duration)
        return max(0, int(end - _TAIL_SECONDS / stream.time_base))
    if container.duration is not None and stream.time_base is not None:
        seconds = container.duration / av.time_base - _TAIL_SECONDS
        return max(0, int(seconds / stream.time_base))
    return 0


def _last_decoded(container: InputContainer, stream: VideoStream, target: int) -> VideoFrame | None:
    container.seek(target, stream=stream, backward=True, any_frame=False)
    last: VideoFrame | None = None
    with suppress(av.FFmpegError):  # a damaged tail: keep the last frame that decoded
        for frame in container.decode(stream):
            if last is None or (frame.pts or 0) >= (last.pts or 0):
                last = frame
    return last


def _write_png(frame: VideoFrame, out: Path) -> Path:
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, "rgb24"
    packets = encoder.encode(frame.reformat(format="rgb24"))
    packets += encoder.encode(None)
    out.write_bytes(b"".join(bytes(packet) for packet in packets))
    return out


def _picture(path: Path) -> VideoFrame:
    with _open_video(path) as (container, stream):
        frame = next(container.decode(stream), None)
    if frame is None:
        raise MediaError(f"{path.name}: no decodable picture")
    return frame


def _rgb_rows(frame: VideoFrame, width: int, height: int) -> list[bytes]:
    plane = frame.reformat(width=width, height=height, format="rgb24").planes[0]
    data = bytes(plane)
    return [
        data[row * plane.line_size : row * plane.line_size + width * 3] for row in range(height)
    ]
