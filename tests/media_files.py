"""Small media files made on the fly with the bundled ffmpeg, for the probe and frame tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg


def ffmpeg(*arguments: str) -> None:
    """Run the bundled ffmpeg quietly; fail the test on an error."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *arguments], check=True, capture_output=True)


def make_video(out: Path, seconds: float, size: str = "320x240", audio: bool = False) -> Path:
    """An H.264 test pattern of ``seconds`` (with a tone if ``audio``) in ``out``'s container."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=s={size}:r=30:d={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    ffmpeg(*inputs, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out))
    return out


def make_image(out: Path, size: str) -> Path:
    """One test-pattern frame of ``size`` in the format ``out``'s suffix names."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:d=1", "-frames:v", "1", str(out))
    return out


def make_audio(out: Path, seconds: float) -> Path:
    """A tone of ``seconds`` in the format ``out``'s suffix names."""
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}", str(out))
    return out
