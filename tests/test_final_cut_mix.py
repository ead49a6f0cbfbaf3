"""The final cut's soundtrack: narration over the clips' own sound, the bed ducked under it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import numpy as np
import pytest

from prefect_gmicloud.media.mix import Spoken, mix_soundtrack, shot_starts
from tests.test_board_stills_sound import RATE, rms, seconds, soundtrack, tone

CLIP_HERTZ, BED_HERTZ = 880.0, 220.0


def band(samples: np.ndarray[Any, Any], start: float, end: float) -> float:
    """The RMS of what lies between 1 and 4 kHz (speech, and neither test tone)."""
    part = samples[int(start * RATE) : int(end * RATE)]
    spectrum = np.fft.rfft(part)
    bins = np.fft.rfftfreq(len(part), 1 / RATE)
    spectrum[(bins < 1000) | (bins > 4000)] = 0
    return float(np.sqrt(np.mean(np.fft.irfft(spectrum, len(part)) ** 2)))


def ffmpeg(*arguments: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*command, *arguments], check=True)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """6 s of video whose own sound is a quiet 880 Hz tone (mono, 44.1 kHz)."""
    path = tmp_path / "clip.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x240:d=6:r=30",
           "-f", "lavfi", "-i", f"sine=f={CLIP_HERTZ:g}:d=6:sample_rate=44100",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", "-shortest",
           str(path))  # fmt: skip
    return path


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    path = tmp_path / "speech.wav"
    subprocess.run([espeak, "-w", str(path), "The keeper climbs to the light"], check=True)
    return path


@pytest.fixture
def bed(tmp_path: Path) -> Path:
    """A 4 s music bed (shorter than the cut: it loops) of a 220 Hz tone."""
    path = tmp_path / "bed.mp3"
    ffmpeg("-f", "lavfi", "-i", f"sine=f={BED_HERTZ:g}:d=4", "-filter:a", "volume=4", str(path))
    return path


def test_narration_plays_over_the_clip_and_the_bed_is_lowered_under_it(
    clip: Path, speech: Path, bed: Path, tmp_path: Path
) -> None:
    mixed = mix_soundtrack(clip, tmp_path / "mixed.mp4", [Spoken(speech, 2.0)], bed)
    assert seconds(mixed, "video") == pytest.approx(6.0, abs=0.1)
    assert seconds(mixed, "audio") == pytest.approx(6.0, abs=0.1)
    samples, rate, channels = soundtrack(mixed)
    assert (rate, channels) == (RATE, 2)
    # Speech from its start (2 s), nothing said before it: its band (1-4 kHz) holds no tone.
    assert band(samples, 2.1, 3.5) > 10 * band(samples, 0.2, 1.8)
    # The clip's own sound stays as loud throughout: only the bed is ducked.
    clip_alone, clip_under = (
        tone(samples, 0.2, 1.8, CLIP_HERTZ),
        tone(samples, 2.1, 3.5, CLIP_HERTZ),
    )
    assert clip_alone > 0.05 and clip_under == pytest.approx(clip_alone, rel=0.25)
    bed_alone, bed_under = tone(samples, 0.2, 1.8, BED_HERTZ), tone(samples, 2.1, 3.5, BED_HERTZ)
    assert bed_alone > 0.02 and bed_under < bed_alone / 3
    # The bed loops to the end of the cut.
    assert tone(samples, 5.0, 5.9, BED_HERTZ) == pytest.approx(bed_alone, rel=0.25)


def test_a_silent_cut_gets_a_soundtrack_and_nothing_to_mix_leaves_it_alone(
    tmp_path: Path, speech: Path
) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x240:d=3:r=30", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(silent))  # fmt: skip
    assert mix_soundtrack(silent, tmp_path / "unused.mp4") == silent
    mixed = mix_soundtrack(silent, tmp_path / "spoken.mp4", [Spoken(speech, 0.5)])
    samples, rate, channels = soundtrack(mixed)
    assert (rate, channels) == (RATE, 2)
    assert seconds(mixed, "audio") == pytest.approx(3.0, abs=0.1)  # speech cut at the end
    assert rms(samples, 0.6, 2.0) > 10 * rms(samples, 0.0, 0.4)


def test_shots_start_where_the_ones_before_them_end(clip: Path, tmp_path: Path) -> None:
    short = tmp_path / "short.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=s=320x240:d=2:r=30", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(short))  # fmt: skip
    assert shot_starts([clip, short, clip]) == pytest.approx([0.0, 6.0, 8.0], abs=0.05)
