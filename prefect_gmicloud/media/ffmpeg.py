"""Join shots into a final cut and thumbnails into a contact sheet, with a bundled ffmpeg.

Shots may differ in size, frame rate and sound: each is scaled into the first shot's frame
(letterboxed, never stretched), set to 30 fps and re-encoded, so the cut plays everywhere and
lasts the sum of the shots. When any shot has sound, every shot gives the cut an audio track of
its own video's length (a silent shot gives silence), all at 48 kHz stereo; when none has, the
cut has no audio stream.
"""

from __future__ import annotations

import logging
import math
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg

from prefect_gmicloud.errors import MediaError

logger = logging.getLogger(__name__)

SHEET_CELL = (320, 180)
#: What every shot is normalised to in a final cut.
CUT_FPS = 30
CUT_SAMPLE_RATE = 48_000
CUT_CHANNEL_LAYOUT = "stereo"


@dataclass(frozen=True)
class _Shot:
    """What the final cut needs to know of one shot."""

    width: int
    height: int
    seconds: float  # the video stream's length
    audio: bool


def _run(arguments: list[str], cwd: Path | None = None) -> str:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-y", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        raise MediaError(f"ffmpeg failed: {done.stderr.strip()[-500:]}")
    return done.stderr


def _sizes(line: str) -> list[tuple[str, str]]:
    return re.findall(r"\b(\d{2,5})x(\d{2,5})\b", line)


def _inspect(path: Path) -> str:
    # "ffmpeg -i" with no output exits 1 but describes the streams on stderr (no ffprobe here).
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False).stderr


def has_audio(path: Path) -> bool:
    """Whether the file has an audio stream.

    Args:
        path: A media file.
    """
    return "Audio:" in _inspect(path)


def shot_seconds(path: Path) -> float:
    """How long a video's video stream lasts, from its packets' timestamps (seconds).

    Args:
        path: A video file.

    Raises:
        MediaError: the file has no readable video stream.
    """
    return _probe(path).seconds


def _probe(path: Path) -> _Shot:
    # Copying the video stream to a framecrc listing reads every packet's timestamp and
    # duration without decoding; stderr describes the input's streams as "ffmpeg -i" does.
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path),
               "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    described = done.stderr.split("Stream mapping:")[0]
    video = next((line for line in described.splitlines() if "Video:" in line), None)
    if done.returncode != 0 or video is None or not _sizes(video):
        raise MediaError(f"{path.name}: no readable video stream")
    width, height = (int(part) for part in _sizes(video)[0])
    return _Shot(width, height, _listed_seconds(done.stdout, path), "Audio:" in described)


def _listed_seconds(listing: str, path: Path) -> float:
    base = re.search(r"^#tb 0: (\d+)/(\d+)$", listing, re.MULTILINE)
    spans = [
        (int(fields[1]), int(fields[1]) + int(fields[3]))
        for fields in (line.split(",") for line in listing.splitlines())
        if len(fields) >= 4 and fields[0].strip() == "0"
    ]
    if base is None or not spans:
        raise MediaError(f"{path.name}: the video stream has no frames")
    ticks = max(end for _, end in spans) - min(start for start, _ in spans)
    return float(ticks * Fraction(int(base[1]), int(base[2])))


def concatenate(videos: list[Path], output: Path) -> Path:
    """Join ``videos`` in order into one H.264 MP4 the size of the first, at 30 fps.

    The cut lasts the sum of the shots' video lengths (within a frame). When any shot has
    audio, the cut has an AAC track at 48 kHz stereo spanning it all: each shot's audio is
    resampled and padded or trimmed to its video's length, and a silent shot contributes
    silence. When no shot has audio, the cut has no audio stream.

    Args:
        videos: The shots, in order; the first one's frame size is the cut's.
        output: Where to write the MP4.
    """
    if not videos:
        raise MediaError("nothing to concatenate")
    shots = [_probe(video) for video in videos]
    width, height = shots[0].width, shots[0].height
    audio = any(shot.audio for shot in shots)
    inputs = [arg for video in videos for arg in ("-i", str(video))]
    fit = (
        f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={CUT_FPS},format=yuv420p"
    )
    chains = [f"[{i}:v]{fit}[v{i}]" for i in range(len(videos))]
    if audio:
        chains += [_audio_chain(i, shot) for i, shot in enumerate(shots)]
        for video, shot in zip(videos, shots, strict=True):
            if not shot.audio:
                logger.info(
                    "%s has no audio: %.2fs of silence in the cut", video.name, shot.seconds
                )
    streams = "".join(f"[v{i}]" + (f"[a{i}]" if audio else "") for i in range(len(videos)))
    joined = f"{streams}concat=n={len(videos)}:v=1:a={int(audio)}[v]" + ("[a]" if audio else "")
    maps = ["-map", "[v]"]
    if audio:
        maps += ["-map", "[a]", "-c:a", "aac", "-b:a", "128k",
                 "-ar", str(CUT_SAMPLE_RATE), "-ac", "2"]  # fmt: skip
    _run(
        [*inputs, "-filter_complex", ";".join([*chains, joined]), *maps,
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
         "-movflags", "+faststart", str(output)]
    )  # fmt: skip
    return output


def _audio_chain(index: int, shot: _Shot) -> str:
    """Shot ``index``'s audio, or silence, at the cut's rate and layout, as long as its video."""
    seconds = f"{shot.seconds:.6f}"
    normal = (
        f"aformat=sample_fmts=fltp:sample_rates={CUT_SAMPLE_RATE}"
        f":channel_layouts={CUT_CHANNEL_LAYOUT}"
    )
    if shot.audio:
        source = f"[{index}:a:0]aresample={CUT_SAMPLE_RATE},{normal},apad"
    else:
        source = f"anullsrc=r={CUT_SAMPLE_RATE}:cl={CUT_CHANNEL_LAYOUT},{normal}"
    return f"{source},atrim=duration={seconds},asetpts=N/SR/TB[a{index}]"


def contact_sheet(
    images: list[Path], output: Path, columns: int = 4, labels: list[str] | None = None
) -> Path:
    """One JPEG with ``images`` in a grid, in order, each labelled below with its name.

    Each image is letterboxed into a 320x180 cell. The grid has as few rows as ``columns``
    allows, filled evenly (6 images: two rows of 3), and a last, shorter row is centred: the
    sheet has no empty tiles. Labels are drawn with ffmpeg's ``drawtext``, which needs a
    system font; without one the sheet is made without them (a warning says so).

    Args:
        images: The pictures, in order.
        output: Where to write the JPEG.
        columns: The most cells in a row.
        labels: One name per image (the shot ids); none when ``None``.
    """
    if not images:
        raise MediaError("no images for a contact sheet")
    if labels is not None and len(labels) != len(images):
        raise MediaError(f"contact sheet: {len(labels)} labels for {len(images)} images")
    # As few rows as ``columns`` allows, then as even as they can be (6 images: 3 + 3).
    columns = math.ceil(len(images) / math.ceil(len(images) / columns))
    if labels is not None:
        try:
            _run(_sheet_arguments(images, output, columns, labels), cwd=output.parent)
            return output
        except MediaError as exc:
            logger.warning("contact sheet made without shot names (drawtext: %s)", exc)
    _run(_sheet_arguments(images, output, columns, None))
    return output


_SHEET_BACKGROUND = "0x1e1e1e"
_SHEET_LABEL_HEIGHT = 30
_SHEET_GAP = 8


def _sheet_arguments(
    images: list[Path], output: Path, columns: int, labels: list[str] | None
) -> list[str]:
    width, height = SHEET_CELL
    label = _SHEET_LABEL_HEIGHT if labels is not None else 0
    cell_w, cell_h = width + _SHEET_GAP, height + label + _SHEET_GAP
    inputs = [arg for image in images for arg in ("-i", str(image.resolve()))]
    chains = []
    for i in range(len(images)):
        chain = (
            f"[{i}:v]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,"
            f"pad={cell_w}:{cell_h}:{_SHEET_GAP // 2}:{_SHEET_GAP // 2}:color={_SHEET_BACKGROUND}"
        )
        if labels is not None:
            # Through a file beside the output (ffmpeg runs there), so no shot name needs
            # filtergraph escaping.
            text = output.with_name(f"{output.stem}-label-{i}.txt")
            text.write_text(labels[i], encoding="utf-8")
            chain += (
                f",drawtext=textfile={text.name}:expansion=none:fontsize=18"
                f":fontcolor=white:x=(w-tw)/2:y={height + _SHEET_GAP // 2 + 6}"
            )
        chains.append(f"{chain},format=yuvj420p[c{i}]")
    rows = []
    for number, first in enumerate(range(0, len(images), columns)):
        cells = [f"[c{i}]" for i in range(first, min(first + columns, len(images)))]
        stacked = f"hstack=inputs={len(cells)}" if len(cells) > 1 else "null"
        centred = f",pad={columns * cell_w}:{cell_h}:(ow-iw)/2:0:color={_SHEET_BACKGROUND}"
        chains.append(
            f"{''.join(cells)}{stacked}{centred if len(cells) < columns else ''}[r{number}]"
        )
        rows.append(f"[r{number}]")
    stacked = f"vstack=inputs={len(rows)}" if len(rows) > 1 else "null"
    chains.append(f"{''.join(rows)}{stacked},format=yuvj420p[sheet]")
    return [*inputs, "-filter_complex", ";".join(chains), "-map", "[sheet]",
            "-frames:v", "1", "-q:v", "3", str(output.resolve())]  # fmt: skip
