"""The final cut's soundtrack: narration at its shots' starts over the clips' own sound, and a
music bed under both, lowered while anyone speaks; all at 48 kHz stereo.

The bed is ducked by ffmpeg's ``sidechaincompress`` keyed on the narration: while speech is
louder than about -40 dBFS the bed is turned down hard (ratio 20, fast attack), and it comes
back a quarter second after the speech stops. Nothing is normalised (``amix normalize=0``):
adding a narration never makes the clips quieter.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from prefect_gmicloud.errors import MediaError
from prefect_gmicloud.media.ffmpeg import (
    CUT_CHANNEL_LAYOUT,
    CUT_SAMPLE_RATE,
    has_audio,
    shot_seconds,
)

#: The ducking: a threshold (linear, about -40 dBFS), ratio, attack and release (ms).
DUCK = "threshold=0.01:ratio=20:attack=5:release=250:detection=rms"
_NORMAL = (
    f"aresample={CUT_SAMPLE_RATE},aformat=sample_fmts=fltp:sample_rates={CUT_SAMPLE_RATE}"
    f":channel_layouts={CUT_CHANNEL_LAYOUT}"
)


@dataclass(frozen=True)
class Spoken:
    """One narration: the audio file and where in the cut it starts (seconds)."""

    audio: Path
    start: float


def shot_starts(videos: list[Path]) -> list[float]:
    """Where each shot starts in a cut that joins ``videos`` in order (seconds).

    Args:
        videos: The shots, in the cut's order.
    """
    starts, at = [], 0.0
    for video in videos:
        starts.append(at)
        at += shot_seconds(video)
    return starts


def mix_soundtrack(
    cut: Path,
    output: Path,
    narration: Sequence[Spoken] = (),
    music: Path | None = None,
    music_volume: float = 0.3,
) -> Path:
    """``cut`` with narration and a music bed mixed into its sound; the video is copied.

    The result lasts as long as ``cut``'s video: a narration running past the end is cut
    there, and the bed is looped or trimmed to fit. Its audio is AAC at 48 kHz stereo.

    Args:
        cut: The joined shots (with or without an audio stream).
        output: Where to write the MP4.
        narration: The lines to speak, each from its start.
        music: A music bed for the whole cut.
        music_volume: The bed's level under the clips (a factor), before it is ducked.

    Returns:
        ``output``; or ``cut`` itself when there is nothing to mix.
    """
    if not narration and music is None:
        return cut
    seconds = f"{shot_seconds(cut):.6f}"
    inputs = ["-i", str(cut)]
    chains = []
    if has_audio(cut):
        chains.append(f"[0:a]{_NORMAL},apad,atrim=duration={seconds}[clip]")
    else:
        chains.append(
            f"anullsrc=r={CUT_SAMPLE_RATE}:cl={CUT_CHANNEL_LAYOUT},atrim=duration={seconds}[clip]"
        )
    layers = ["[clip]"]
    voice = "[voice]"
    for number, line in enumerate(narration, start=1):
        inputs += ["-i", str(line.audio)]
        delay = max(0, round(line.start * 1000))
        chains.append(f"[{number}:a]{_NORMAL},adelay=delays={delay}:all=1[n{number}]")
    if narration:
        spoken = "".join(f"[n{i}]" for i in range(1, len(narration) + 1))
        together = (
            f"amix=inputs={len(narration)}:normalize=0:duration=longest,"
            if len(narration) > 1
            else ""
        )
        chains.append(f"{spoken}{together}apad,atrim=duration={seconds}[voice]")
    if music is not None:
        inputs += ["-stream_loop", "-1", "-i", str(music)]
        bed = len(narration) + 1
        chains.append(f"[{bed}:a]{_NORMAL},atrim=duration={seconds},volume={music_volume}[bed]")
        if narration:
            chains.append("[voice]asplit=2[said][key]")
            chains.append(f"[bed][key]sidechaincompress={DUCK}[ducked]")
            voice = "[said]"
        layers.append("[ducked]" if narration else "[bed]")
    if narration:
        layers.append(voice)
    chains.append(f"{''.join(layers)}amix=inputs={len(layers)}:normalize=0:duration=first[a]")
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs,
        "-filter_complex", ";".join(chains), "-map", "0:v:0", "-map", "[a]", "-c:v", "copy",
        "-c:a", "aac", "-b:a", "160k", "-ar", str(CUT_SAMPLE_RATE), "-ac", "2",
        "-t", seconds, "-movflags", "+faststart", str(output),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise MediaError(f"ffmpeg could not mix the soundtrack: {done.stderr.strip()[-500:]}")
    return output
