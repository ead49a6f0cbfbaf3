"""What container a file is, from its first bytes alone: no decoding, no dependency.

Both the check of downloaded results (is this "video" an HTML error page?) and the probe of
storyboard references start here, so a format is recognised the same way everywhere.
"""

from __future__ import annotations

from pathlib import Path

#: How many leading bytes :func:`sniff_container` needs.
HEAD_BYTES = 64

#: Containers that hold video (and possibly audio) streams.
VIDEO_CONTAINERS = frozenset({"mp4", "mov", "3gp", "matroska", "webm", "avi"})
#: Still-image formats.
IMAGE_CONTAINERS = frozenset({"jpeg", "png", "gif", "bmp", "webp"})
#: Audio-only formats.
AUDIO_CONTAINERS = frozenset({"wav", "mp3", "aac", "ogg", "flac"})

_PREFIXES = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"ID3", "mp3"),
    (b"OggS", "ogg"),
    (b"fLaC", "flac"),
)
_RIFF_FORMS = {b"WEBP": "webp", b"WAVE": "wav", b"AVI ": "avi"}


def read_head(path: Path) -> bytes:
    """The first :data:`HEAD_BYTES` bytes of ``path`` (fewer if the file is shorter).

    Raises:
        OSError: when the file cannot be opened or read (``FileNotFoundError`` if absent).
    """
    with path.open("rb") as file:
        return file.read(HEAD_BYTES)


def _iso_media(brand: bytes) -> str:
    # ISO base media files name their flavour in the major brand of the "ftyp" box.
    if brand == b"qt  ":
        return "mov"
    if brand.startswith(b"3g"):
        return "3gp"
    return "mp4"


def _mpeg_audio(head: bytes) -> str | None:
    # An MPEG audio frame starts with 11 set sync bits; layer bits 00 mean AAC in ADTS framing.
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    return "aac" if head[1] & 0x06 == 0 else "mp3"


def sniff_container(head: bytes) -> str | None:
    """The container format that ``head`` (a file's first bytes) starts, or ``None``.

    Names are lower case: ``mp4``, ``mov``, ``3gp``, ``matroska``, ``webm``, ``avi``, ``jpeg``,
    ``png``, ``gif``, ``bmp``, ``webp``, ``wav``, ``mp3``, ``aac``, ``ogg``, ``flac``.

    Args:
        head: At least the first :data:`HEAD_BYTES` bytes of the file, when it has that many.

    Example:
        >>> sniff_container(b"\\x89PNG\\r\\n\\x1a\\n")
        'png'
    """
    if head[4:8] == b"ftyp":
        return _iso_media(head[8:12])
    if head.startswith(b"\x1aE\xdf\xa3"):  # EBML: Matroska, or its WebM profile
        return "webm" if b"webm" in head else "matroska"
    if head.startswith(b"RIFF"):
        return _RIFF_FORMS.get(head[8:12])
    for prefix, name in _PREFIXES:
        if head.startswith(prefix):
            return name
    return _mpeg_audio(head)
