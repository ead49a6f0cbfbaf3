"""Real, playable outputs for the simulator: H.264 MP4s and JPEG thumbnails, cached on disk.

The static ffmpeg of the ``imageio-ffmpeg`` wheel renders a moving test pattern at the asked
size and length with the prompt drawn on it and, for clips with a :class:`Soundtrack`, an AAC
tone of the clip's exact length whose pitch depends on the prompt. A clip given a first-frame
image starts on exactly that image (scaled to the frame) and fades into the pattern; one given
a last-frame image fades into it and holds it to the end. Files are cached by everything that
changes them, so a test suite renders each distinct clip once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import subprocess
import tempfile
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import imageio_ffmpeg

logger = logging.getLogger(__name__)

FPS = 30
#: How long a first or last frame image takes to fade into (or out of) the test pattern.
FADE_SECONDS = 0.5
#: How long a last frame image is held, unblended, at the end of a clip.
HOLD_SECONDS = 0.1
#: Lowest pitch of the tone; the prompt's hash adds up to ``TONE_SPREAD_HZ``.
TONE_BASE_HZ = 220
TONE_SPREAD_HZ = 440


@dataclass(frozen=True)
class Soundtrack:
    """The audio track of a clip: a quiet tone at this sample rate and channel count."""

    sample_rate: int
    channels: int


@dataclass(frozen=True)
class ClipSpec:
    """What a simulated video shows: its size, its length, the text drawn on it, its sound.

    ``sound=None`` renders a clip without an audio stream. ``first_frame`` and ``last_frame``
    are image files (named by their content's hash) the clip starts and ends on.
    """

    width: int
    height: int
    seconds: int
    caption: str
    sound: Soundtrack | None = None
    first_frame: Path | None = None
    last_frame: Path | None = None

    def key(self) -> str:
        text = f"{self.width}x{self.height}:{self.seconds}:{self.caption}"
        if self.sound is not None:
            text += f":audio={self.sound.sample_rate}x{self.sound.channels}"
        if self.first_frame is not None:
            text += f":first={self.first_frame.name}"
        if self.last_frame is not None:
            text += f":last={self.last_frame.name}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def pitch(self) -> int:
        """The tone's frequency in Hz: the same prompt always sounds the same."""
        digest = hashlib.sha256(self.caption.encode()).digest()
        return TONE_BASE_HZ + int.from_bytes(digest[:4], "big") % TONE_SPREAD_HZ


def default_cache_dir() -> Path:
    """``$PREFECT_GMICLOUD_SIM_CACHE`` or the user's cache folder."""
    configured = os.environ.get("PREFECT_GMICLOUD_SIM_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "prefect-gmicloud" / "simulator"


def caption_lines(caption: str) -> str:
    """The prompt as at most four lines of 48 characters, as drawn on frames."""
    return "\n".join(textwrap.wrap(caption, 48)[:4]) or " "


class MediaRenderer:
    """Renders clips once per spec and returns cached paths; safe to call from many threads."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir or default_cache_dir()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self.ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def video(self, spec: ClipSpec) -> Path:
        """The MP4 for ``spec`` (rendered on first use)."""
        return self.cached(f"{spec.key()}.mp4", lambda out: self._render_video(spec, out))

    def thumbnail(self, spec: ClipSpec) -> Path:
        """A JPEG of the clip's first frame (the same with or without sound)."""
        picture = replace(spec, sound=None)
        return self.cached(f"{picture.key()}.jpg", lambda out: self._render_thumbnail(picture, out))

    def sized_video(self, spec: ClipSpec, size: int) -> Path:
        """A real clip of ``spec``'s frame, length and sound (no caption) padded to ``size`` bytes.

        The padding is an MP4 ``free`` box of incompressible bytes, so the file is a valid,
        playable video of any size: what benchmarks of huge transfers need, and what a
        download check accepts.
        """
        plain = replace(spec, caption="")
        return self.cached(
            f"{plain.key()}-{size}.mp4", lambda out: _pad_mp4(self.video(plain), out, size)
        )

    def plain_thumbnail(self, spec: ClipSpec) -> Path:
        """The thumbnail of ``spec``'s frame without a caption (one render per frame size)."""
        return self.thumbnail(replace(spec, caption=""))

    def cached(self, name: str, render: Callable[[Path], None]) -> Path:
        """The cached file ``name``, made by ``render(path)`` on first use, once across threads."""
        path = self.cache_dir / name
        if path.exists():
            return path
        with self._lock(name):
            if not path.exists():
                fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix=path.suffix)
                os.close(fd)
                try:
                    render(Path(tmp))
                    os.replace(tmp, path)
                finally:
                    Path(tmp).unlink(missing_ok=True)
        return path

    def _source_args(self, spec: ClipSpec, caption_file: Path | None) -> list[str]:
        size = f"{spec.width}x{spec.height}"
        args = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r={FPS}:d={spec.seconds}"]
        inputs = 1
        sound_map: list[str] = []
        if spec.sound is not None:
            # sine's default amplitude is 1/8 (-18 dBFS): a quiet tone, exactly as long.
            tone = (
                f"sine=frequency={spec.pitch()}:sample_rate={spec.sound.sample_rate}"
                f":duration={spec.seconds}"
            )
            args += ["-f", "lavfi", "-i", tone]
            sound_map = ["-map", "1:a"]
            inputs += 1
        chain = "[0:v]"
        if caption_file is not None:
            # The caption goes through a file, so no prompt text needs filtergraph escaping.
            font_size = max(spec.height // 18, 12)
            chain += (
                f"drawtext=textfile={caption_file.name}:expansion=none:fontsize={font_size}"
                ":fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=12:x=(w-tw)/2:y=h-th-40,"
            )
        graph = [f"{chain}setsar=1,format=yuv420p[pattern]"]
        last = "pattern"
        fit = f"scale={spec.width}:{spec.height},setsar=1,fps={FPS},format=yuv420p"
        if spec.first_frame is not None:
            # xfade at offset 0 starts on the image alone: frame 0 is the image, unblended.
            args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{FADE_SECONDS:g}"]
            args += ["-i", str(spec.first_frame.resolve())]
            graph.append(f"[{inputs}:v]{fit}[first]")
            inputs += 1
            graph.append(
                f"[first][{last}]xfade=transition=fade:duration={FADE_SECONDS}:offset=0[opened]"
            )
            last = "opened"
        if spec.last_frame is not None:
            tail = FADE_SECONDS + HOLD_SECONDS
            args += ["-loop", "1", "-framerate", str(FPS), "-t", f"{tail:g}"]
            args += ["-i", str(spec.last_frame.resolve())]
            graph.append(f"[{inputs}:v]{fit}[lastimg]")
            graph.append(
                f"[{last}][lastimg]xfade=transition=fade:duration={FADE_SECONDS}"
                f":offset={max(spec.seconds - tail, 0):g}[closed]"
            )
            last = "closed"
        return [*args, "-filter_complex", ";".join(graph), "-map", f"[{last}]", *sound_map]

    def _run(self, spec: ClipSpec, output_args: list[str]) -> None:
        base = [self.ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as workdir:
            caption = Path(workdir) / "caption.txt"
            caption.write_text(caption_lines(spec.caption), encoding="utf-8")
            try:
                subprocess.run(
                    [*base, *self._source_args(spec, caption), *output_args],
                    check=True,
                    capture_output=True,
                    cwd=workdir,
                )
            except subprocess.CalledProcessError as exc:
                # drawtext needs a system font; without one, render the clip without a caption.
                logger.warning("ffmpeg drawtext failed (%r); no caption", exc.stderr[-200:])
                subprocess.run(
                    [*base, *self._source_args(spec, None), *output_args],
                    check=True,
                    capture_output=True,
                )

    def _render_video(self, spec: ClipSpec, out: Path) -> None:
        sound: list[str] = []
        if spec.sound is not None:
            sound = ["-c:a", "aac", "-b:a", "64k", "-ac", str(spec.sound.channels)]
        self._run(
            spec,
            [
                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", "-pix_fmt", "yuv420p",
                *sound, "-movflags", "+faststart", "-f", "mp4", str(out),
            ],
        )  # fmt: skip

    def _render_thumbnail(self, spec: ClipSpec, out: Path) -> None:
        self._run(spec, ["-frames:v", "1", "-q:v", "4", "-f", "mjpeg", str(out)])


def _pad_mp4(clip: Path, out: Path, size: int, block: int = 1024 * 1024) -> None:
    data = clip.read_bytes()
    padding = size - len(data)
    with open(out, "wb") as handle:
        handle.write(data)
        if padding < 16:
            return
        # A top-level "free" box: 32-bit size when it fits, else size 1 and a 64-bit size.
        if padding < 2**32:
            handle.write(padding.to_bytes(4, "big") + b"free")
            remaining = padding - 8
        else:
            handle.write((1).to_bytes(4, "big") + b"free" + padding.to_bytes(8, "big"))
            remaining = padding - 16
        pattern = random.Random(size).randbytes(block)
        for start in range(0, remaining, block):
            handle.write(pattern[: min(block, remaining - start)])
