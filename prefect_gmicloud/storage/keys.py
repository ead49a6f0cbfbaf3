"""Object keys that never leave their prefix: pure functions, no I/O."""

from __future__ import annotations

from prefect_gmicloud.errors import UnsafeKeyError

#: S3's longest key, in bytes.
MAX_KEY_BYTES = 1024


def safe_key(prefix: str, *parts: str) -> str:
    """Join key parts under ``prefix``; refuse ``..``, ``.``, empty, ``\\`` or control segments.

    Raises:
        UnsafeKeyError: a segment could escape the prefix, or the key is too long.
    """
    prefix_segments = [segment for segment in prefix.split("/") if segment]
    name_segments = [segment for part in parts for segment in part.split("/")]
    if not name_segments or name_segments == [""]:
        raise UnsafeKeyError("an object key needs a name under the prefix")
    refuse_odd_segments(prefix_segments, prefix)
    refuse_odd_segments(name_segments, "/".join(parts))
    key = "/".join(prefix_segments + name_segments)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise UnsafeKeyError(f"S3 keys are at most {MAX_KEY_BYTES} bytes, got {len(key.encode())}")
    return key


def refuse_odd_segments(segments: list[str], where: str) -> None:
    """Refuse a segment that is empty, ``.``, ``..``, holds ``\\`` or a control character.

    Raises:
        UnsafeKeyError: naming the segment and where it was.
    """
    for segment in segments:
        if segment in ("", ".", "..") or "\\" in segment or any(ord(c) < 32 for c in segment):
            raise UnsafeKeyError(f"unsafe S3 key segment {segment!r} in {where!r}")
