"""Join shots into a final cut and thumbnails into a contact sheet, with a bundled ffmpeg.

Shots may differ in size: each is scaled into the first shot's frame (letterboxed, never
stretched) and re-encoded, so the cut plays everywhere. Audio is kept when every shot has it;
otherwise the cut is silent and a warning says so.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg

from prefect_gmicloud.errors import MediaError

logger = logging.getLogger(__name__)

SHEET_CELL = (320, 180)


def _run(arguments: list[str]) -> str:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-y", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MediaError(f"ffmpeg failed: {done.stderr.strip()[-500:]}")
    return done.stderr


def _frame_size(path: Path) -> tuple[int, int]:
    info = _inspect(path)
    for line in info.splitlines():
        if "Video:" in line:
            for width, height in ((int(a), int(b)) for a, b in _sizes(line)):
                return width, height
    raise MediaError(f"{path.name}: no video stream")


def _sizes(line: str) -> list[tuple[str, str]]:
    return re.findall(r"\b(\d{2,5})x(\d{2,5})\b", line)


def _inspect(path: Path) -> str:
    # "ffmpeg -i" with no output exits 1 but describes the streams on stderr (no ffprobe here).
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False).stderr


def has_audio(path: Path) -> bool:
    """Whether the file has an audio stream."""
    return "Audio:" in _inspect(path)


def concatenate(videos: list[Path], output: Path) -> Path:
    """Join ``videos`` in order into one H.264 MP4 the size of the first."""
    if not videos:
        raise MediaError("nothing to concatenate")
    width, height = _frame_size(videos[0])
    audio = all(has_audio(v) for v in videos)
    if not audio and any(has_audio(v) for v in videos):
        logger.warning("not every shot has audio: the final cut is silent")
    inputs = [arg for video in videos for arg in ("-i", str(video))]
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30,format=yuv420p"
    )
    chains = [f"[{i}:v]{fit}[v{i}]" for i in range(len(videos))]
    streams = "".join(f"[v{i}]" + (f"[{i}:a]" if audio else "") for i in range(len(videos)))
    joined = f"{streams}concat=n={len(videos)}:v=1:a={int(audio)}[v]" + ("[a]" if audio else "")
    maps = ["-map", "[v]"] + (["-map", "[a]", "-c:a", "aac"] if audio else [])
    _run(
        [*inputs, "-filter_complex", ";".join([*chains, joined]), *maps,
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
         "-movflags", "+faststart", str(output)]
    )  # fmt: skip
    return output


def contact_sheet(images: list[Path], output: Path, columns: int = 4) -> Path:
    """One JPEG with ``images`` in a grid, in order (each letterboxed into a 320x180 cell)."""
    if not images:
        raise MediaError("no images for a contact sheet")
    columns = min(columns, len(images))
    rows = math.ceil(len(images) / columns)
    width, height = SHEET_CELL
    inputs = [arg for image in images for arg in ("-i", str(image))]
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,format=yuvj420p"
    )
    chains = [f"[{i}:v]{fit}[c{i}]" for i in range(len(images))]
    cells = "".join(f"[c{i}]" for i in range(len(images)))
    grid = f"{cells}concat=n={len(images)}:v=1:a=0,tile={columns}x{rows}:padding=4[sheet]"
    _run([*inputs, "-filter_complex", ";".join([*chains, grid]), "-map", "[sheet]",
          "-frames:v", "1", "-q:v", "3", str(output)])  # fmt: skip
    return output
