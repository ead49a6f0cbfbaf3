"""Real stills for the simulator's image models: a test pattern with the prompt drawn on it, at
the asked size, as JPEG or PNG, rendered by the ``imageio-ffmpeg`` wheel's ffmpeg and cached."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from prefect_gmicloud.simulator.media import MediaRenderer, caption_lines

logger = logging.getLogger(__name__)

StillFormat = Literal["jpeg", "png"]


@dataclass(frozen=True)
class StillSpec:
    """What a simulated image shows: its size, the text drawn on it, its format."""

    width: int
    height: int
    caption: str
    format: StillFormat = "jpeg"

    @property
    def suffix(self) -> str:
        """The file's extension: ``.jpg`` or ``.png``."""
        return ".png" if self.format == "png" else ".jpg"

    def key(self) -> str:
        text = f"still:{self.width}x{self.height}:{self.format}:{self.caption}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]


def render_still(renderer: MediaRenderer, spec: StillSpec) -> Path:
    """The image for ``spec`` (rendered on first use, then cached).

    Args:
        renderer: Holds the cache and the ffmpeg binary.
        spec: The image to make.
    """
    return renderer.cached(f"{spec.key()}{spec.suffix}", lambda out: _render(renderer, spec, out))


def _render(renderer: MediaRenderer, spec: StillSpec, out: Path) -> None:
    codec = (
        ["-c:v", "png", "-f", "image2"] if spec.format == "png" else ["-q:v", "3", "-f", "mjpeg"]
    )
    source = ["-f", "lavfi", "-i", f"testsrc2=s={spec.width}x{spec.height}:d=1"]
    base = [renderer.ffmpeg, "-hide_banner", "-loglevel", "error", "-y", *source]
    with tempfile.TemporaryDirectory(dir=renderer.cache_dir) as workdir:
        caption = Path(workdir) / "caption.txt"
        caption.write_text(caption_lines(spec.caption), encoding="utf-8")
        size = max(min(spec.width, spec.height) // 14, 12)
        # The caption goes through a file, so no prompt text needs filtergraph escaping.
        draw = (
            f"drawtext=textfile={caption.name}:expansion=none:fontsize={size}:fontcolor=white"
            ":box=1:boxcolor=black@0.6:boxborderw=16:x=(w-tw)/2:y=(h-th)/2"
        )
        try:
            subprocess.run(
                [*base, "-vf", draw, "-frames:v", "1", *codec, str(out)],
                check=True,
                capture_output=True,
                cwd=workdir,
            )
        except subprocess.CalledProcessError as exc:
            # drawtext needs a system font; without one, render the still without a caption.
            logger.warning("ffmpeg drawtext failed (%r); no caption", exc.stderr[-200:])
            subprocess.run(
                [*base, "-frames:v", "1", *codec, str(out)], check=True, capture_output=True
            )
